"""Test settings: real PostgreSQL and Redis (DESIGN.md §7).

DATABASE_URL and REDIS_URL default to the services on localhost. When one cannot be reached
the suite says so loudly and falls back to SQLite / the in-memory layer; with
REQUIRE_SERVICES=1 (CI) it refuses to run instead.
"""

import os
import socket
import sys
import uuid
from urllib.parse import urlsplit

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/supportdesk")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("TASKS_EAGER", "1")
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("TWILIO_AUTH_TOKEN", "test-auth-token")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The test database is created and dropped around the run; a pool would hold it open.
os.environ.setdefault("DATABASE_POOL", "0")
# Servers the tests start must not note themselves in the project folder, where a developer's
# `make run` keeps its note for simulate_sms (apps/core/runfile.py).
os.environ.setdefault("SERVER_RUN_FILE", "")

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


MISSING = []
if os.environ["DATABASE_URL"].startswith("postgres") and not _reachable(os.environ["DATABASE_URL"], 5432):
    MISSING.append("PostgreSQL at " + os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(os.path.dirname(__file__), "..", "test-db.sqlite3")
if os.environ["REDIS_URL"] and not _reachable(os.environ["REDIS_URL"], 6379):
    MISSING.append("Redis at " + os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = ""

if MISSING:
    banner = "\n".join(
        [
            "",
            "!" * 78,
            "!! NOT REACHABLE: " + "; ".join(MISSING),
            "!! Tests that need them are skipped or run on SQLite / in-memory stand-ins.",
            "!" * 78,
            "",
        ]
    )
    if REQUIRE:
        sys.exit(banner + "REQUIRE_SERVICES=1: refusing to run without the real services.")
    print(banner, file=sys.stderr)

from supportdesk import settings as _base  # noqa: E402
from supportdesk.settings import *  # noqa: E402,F403

if _base.REDIS_URL:
    # A prefix per test run keeps parallel runs and stale messages apart; the cache follows it,
    # as it does in a deployment, also in the server processes tests start (tests/servers.py).
    CHANNEL_LAYER_PREFIX = CACHE_KEY_PREFIX = f"sdtest-{uuid.uuid4().hex[:8]}"
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = CHANNEL_LAYER_PREFIX  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = CACHE_KEY_PREFIX  # noqa: F405

HAS_POSTGRES = "postgresql" in DATABASES["default"]["ENGINE"]  # noqa: F405
if HAS_POSTGRES and not os.environ.get("CI"):
    # Developers (and parallel helpers) may run the suite twice at once: one test database
    # per run, so that one run never drops the other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_supportdesk_{os.getpid()}"}  # noqa: F405
HAS_REDIS = bool(_base.REDIS_URL)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = os.path.join(os.path.dirname(__file__), "..", "test-artifacts", "media")
CONSOLE_HEARTBEAT_SECONDS = 0.5
WIDGET_HEARTBEAT_SECONDS = 0.5
