"""WebSocket authentication for agents: the session cookie, or `?token=<API token>`.

Origin is checked for browser connections: a page from another site must not ride an agent's
cookie into the console socket (cross-site WebSocket hijacking). A connection with an API
token and no Origin header is a script and is allowed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


def origin_allowed(scope: dict[str, Any]) -> tuple[bool, str | None]:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    origin = headers.get("origin")
    if origin is None:
        return False, None
    allowed = {o.rstrip("/") for o in settings.CONSOLE_ORIGINS}
    if origin.rstrip("/") in allowed:
        return True, origin
    # Same origin: the page was served by this host.
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower(), origin


class ConsoleAuthMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = AuthMiddlewareStack(inner)
        self.token_inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ok, origin = origin_allowed(scope)
        token = (query.get("token") or [""])[0]
        if token:
            scope = dict(scope, user=await _user_for_token(token), auth_method="token")
            scope["origin_ok"] = ok or origin is None
            return await self.token_inner(scope, receive, send)
        scope = dict(scope, auth_method="session", origin_ok=ok)
        return await self.inner(scope, receive, send)
