"""API token authentication with a short in-process cache of token -> agent (issue 14).

DRF's TokenAuthentication reads the token and its agent (one query, ~1.5 ms of CPU with the ORM's
compilation) on every request; a console polling the list pays it on every page. Here a token
that authenticated is remembered for `API_TOKEN_CACHE_SECONDS` (settings, default 5; 0: off), in
this process only. The price: a token deleted (revoked) or an agent deactivated, or their role
changed, takes effect within that many seconds in each web process rather than at once (in the
process that saves the agent or deletes the token, at once: token_cache_forget). Tokens that fail
are never remembered; each request gets its own copy of the agent, so a view that changes the
agent it was given changes no one else's.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from django.conf import settings
from rest_framework.authentication import TokenAuthentication

# Replaced in tests by a clock they move.
clock = time.monotonic
# More entries than this (tokens that authenticated within the last seconds) and the expired ones
# are dropped; there are as many as agents using the API.
_MAX_ENTRIES = 10_000
# key -> (expiry on `clock`, the agent, the token)
_cache: dict[str, tuple[float, Any, Any]] = {}


def token_cache_clear() -> None:
    _cache.clear()


def token_cache_forget(*, key: str | None = None, agent_id: int | None = None) -> None:
    """Drop what this process remembers of a token (deleted) or of an agent's tokens (saved:
    role, active, password may have changed). Other processes wait for their entries' expiry."""
    if key is not None:
        _cache.pop(key, None)
    if agent_id is not None:
        for stale in [k for k, entry in list(_cache.items()) if entry[1].pk == agent_id]:
            _cache.pop(stale, None)


class CachedTokenAuthentication(TokenAuthentication):
    """TokenAuthentication whose successful answers are kept API_TOKEN_CACHE_SECONDS."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        seconds = settings.API_TOKEN_CACHE_SECONDS
        if seconds <= 0:
            return super().authenticate_credentials(key)
        now = clock()
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return copy.copy(hit[1]), hit[2]
        user, token = super().authenticate_credentials(key)  # AuthenticationFailed: not kept
        if len(_cache) >= _MAX_ENTRIES:
            for stale in [k for k, entry in _cache.items() if entry[0] <= now]:
                _cache.pop(stale, None)
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
        _cache[key] = (now + seconds, copy.copy(user), token)
        return user, token
