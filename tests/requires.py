"""Markers for tests that need the real services, defined once.

Where PostgreSQL or Redis is not reachable these tests skip, and the banner of tests/settings.py
says which service is missing; with REQUIRE_SERVICES=1 (CI, `.ci/run`) the run refuses to start
instead, so CI never skips them.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings

needs_postgres = pytest.mark.skipif(
    not getattr(settings, "HAS_POSTGRES", False),
    reason="needs PostgreSQL (concurrent transactions, row and advisory locks); not reachable, see the banner",
)

needs_postgres_and_redis = pytest.mark.skipif(
    not (getattr(settings, "HAS_POSTGRES", False) and getattr(settings, "HAS_REDIS", False)),
    reason="needs PostgreSQL and Redis shared by server processes; one is not reachable, see the banner",
)

needs_redis = pytest.mark.skipif(
    not getattr(settings, "HAS_REDIS", False), reason="needs Redis; not reachable, see the banner"
)


def missing(reason: str) -> None:
    """A program the test needs (Chromium, dovecot, prosody) is not installed: skip, or fail
    under REQUIRE_SERVICES=1 (CI installs them, so there a missing one is a broken run)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1: {reason}", pytrace=False)
    pytest.skip(reason)
