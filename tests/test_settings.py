"""Settings behaviour an operator relies on (DESIGN.md §5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.requires import needs_postgres, needs_redis

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    # Leave out what the test settings themselves export.
    drop = {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DATABASE_URL", "REDIS_URL", "TASKS_EAGER", "DATABASE_POOL"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "supportdesk.settings"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CHANNEL_LAYERS['default']['BACKEND'], settings.CELERY_TASK_ALWAYS_EAGER)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_refuses_to_start_without_secret_key():
    result = _load_settings(DEBUG="0", ALLOWED_HOSTS="desk.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG=0" in result.stderr


# A key that is not a placeholder ("x" * 50, which these tests used before, now is one).
REAL_KEY = "7Qm2vR9-kT4wZ1pL8sX3nB6yH0cF5jD2gK9aE4uW7rN1oV3i"


def test_debug_off_refuses_to_start_without_allowed_hosts():
    result = _load_settings(DEBUG="0", SECRET_KEY=REAL_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set when DEBUG=0" in result.stderr


def test_debug_off_starts_with_both():
    result = _load_settings(DEBUG="0", SECRET_KEY=REAL_KEY, ALLOWED_HOSTS="desk.example.com")
    assert result.returncode == 0, result.stderr


# --- placeholder secrets (issue 10, security finding 5) ---------------------------------------


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            pairs[name.strip()] = value.strip()
    return pairs


def test_debug_off_refuses_the_secret_key_of_env_example():
    example = _env_example()
    assert example["SECRET_KEY"] == "change-me"
    result = _load_settings(DEBUG="0", SECRET_KEY=example["SECRET_KEY"], ALLOWED_HOSTS="desk.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is still an example value" in result.stderr
    assert "DEBUG=0 refuses to start with a placeholder secret" in result.stderr


def test_debug_off_refuses_the_database_password_of_env_example():
    example = _env_example()
    result = _load_settings(
        DEBUG="0",
        SECRET_KEY=REAL_KEY,
        ALLOWED_HOSTS="desk.example.com",
        DATABASE_URL="postgres://supportdesk@db.example.com:5432/supportdesk",
        DATABASE_PASSWORD=example["POSTGRES_PASSWORD"],
    )
    assert result.returncode != 0
    assert "the database password (DATABASE_URL / DATABASE_PASSWORD) is still an example value" in result.stderr
    in_url = _load_settings(
        DEBUG="0",
        SECRET_KEY=REAL_KEY,
        ALLOWED_HOSTS="desk.example.com",
        DATABASE_URL=f"postgres://supportdesk:{example['POSTGRES_PASSWORD']}@db.example.com:5432/supportdesk",
    )
    assert in_url.returncode != 0 and "the database password" in in_url.stderr


@pytest.mark.parametrize(
    "value",
    [
        "change-me",
        "CHANGE_ME",
        "changeme-please",
        "secret",
        "your-secret-key",
        "<your secret key>",
        "x" * 50,
        "django-insecure-abc123def456",
        "supportdesk-dev-token",
        "password",
    ],
)
def test_debug_off_refuses_obvious_placeholders(value):
    result = _load_settings(DEBUG="0", SECRET_KEY=value, ALLOWED_HOSTS="desk.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is still an example value" in result.stderr


def test_debug_off_names_every_placeholder_secret_at_once():
    result = _load_settings(
        DEBUG="0",
        SECRET_KEY="change-me",
        ALLOWED_HOSTS="desk.example.com",
        TWILIO_AUTH_TOKEN="supportdesk-dev-token",
        EMAIL_WEBHOOK_SECRET="changeme",
    )
    assert result.returncode != 0
    assert "SECRET_KEY, TWILIO_AUTH_TOKEN, EMAIL_WEBHOOK_SECRET are still an example value" in result.stderr


def test_debug_on_keeps_the_development_defaults():
    """make run: the development Twilio token and any key are fine while DEBUG=1."""
    result = _load_settings(SECRET_KEY="change-me", TWILIO_AUTH_TOKEN="supportdesk-dev-token")
    assert result.returncode == 0, result.stderr


def test_embedded_default_is_sqlite_in_memory_layer_and_in_process_tasks():
    result = _load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "True",
    ]


def test_redis_url_switches_to_redis_layer_and_a_real_broker():
    result = _load_settings(REDIS_URL="redis://127.0.0.1:6379/15", DATABASE_URL="postgres://postgres@127.0.0.1:5432/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "False",
    ]


# --- two deployments sharing one Redis (issue 10, security finding 4) ------------------------

_THROTTLE_SCRIPT = """
import datetime as dt
import sys
from unittest import mock
import django
django.setup()
from apps.console.views import _count, _record_failure, _username_key
from apps.widget.services import rate_limited
user, ip, fail = sys.argv[1], sys.argv[2], sys.argv[3] == "fail"
# Every run counts in the same rate window (the test's clock), whenever it starts.
now = dt.datetime.fromtimestamp(float(sys.argv[4]), dt.UTC)
mock.patch("apps.widget.services.timezone.now", return_value=now).start()
key = _username_key(user)
if fail:
    for _ in range(5):
        _record_failure(key)
hits = [rate_limited("connect", ip, (3, 600)) for _ in range(2)]
print(_count(key), *hits)
"""


def _deployment(user: str, ip: str, *, fail: bool, clock: float = 0.0, **env: str) -> list[str]:
    """One run of a deployment on the shared test Redis: optionally five failed sign-ins of
    `user`, then two widget connects from `ip`; prints the user's failure count and whether
    each connect was over a limit of 3."""
    from django.conf import settings

    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TASKS_EAGER", "DATABASE_POOL"}}
    clean.update(env, REDIS_URL=settings.REDIS_URL, DJANGO_SETTINGS_MODULE="supportdesk.settings")
    result = subprocess.run(
        [sys.executable, "-c", _THROTTLE_SCRIPT, user, ip, "fail" if fail else "look", str(clock or time.time())],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@needs_redis
def test_deployments_with_different_prefixes_share_no_throttle_or_rate_limit():
    import uuid

    run, clock = uuid.uuid4().hex[:8], time.time()
    user, ip = f"ana-{run}", f"ip-{run}"
    first = _deployment(user, ip, fail=True, clock=clock, CHANNEL_LAYER_PREFIX=f"desk-a-{run}")
    assert first == ["5", "False", "False"]  # five failures counted, two connects of three
    # Another deployment on the same Redis: nothing of the first one's counters.
    other = _deployment(user, ip, fail=False, clock=clock, CHANNEL_LAYER_PREFIX=f"desk-b-{run}")
    assert other == ["0", "False", "False"]
    # The first deployment again (same prefix): its counters are still there, so the check
    # above could have seen them: its fourth connect in the window is over the limit of 3.
    again = _deployment(user, ip, fail=False, clock=clock, CHANNEL_LAYER_PREFIX=f"desk-a-{run}")
    assert again == ["5", "False", "True"]


@needs_redis
def test_cache_key_prefix_can_be_set_apart_from_the_channel_prefix():
    import uuid

    run = uuid.uuid4().hex[:8]
    user, ip = f"ben-{run}", f"ip-{run}"
    _deployment(user, ip, fail=True, CHANNEL_LAYER_PREFIX="asgi", CACHE_KEY_PREFIX=f"desk-c-{run}")
    assert _deployment(user, ip, fail=False, CHANNEL_LAYER_PREFIX="asgi", CACHE_KEY_PREFIX=f"desk-d-{run}")[0] == "0"
    assert _deployment(user, ip, fail=False, CHANNEL_LAYER_PREFIX="asgi", CACHE_KEY_PREFIX=f"desk-c-{run}")[0] == "5"


# --- PostgreSQL connection settings (issue 14) ------------------------------------------------


@needs_postgres
@pytest.mark.django_db
def test_postgres_connections_ask_for_no_parallel_workers():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == "0"


def test_parallel_workers_is_a_number_or_server():
    pg = "postgres://postgres@127.0.0.1:5432/x"
    refused = _load_settings(DATABASE_URL=pg, DATABASE_PARALLEL_WORKERS="many")
    assert refused.returncode != 0
    assert "DATABASE_PARALLEL_WORKERS is a number of workers" in refused.stderr
    for value in ("server", "2"):
        assert _load_settings(DATABASE_URL=pg, DATABASE_PARALLEL_WORKERS=value).returncode == 0
