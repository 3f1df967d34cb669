"""Settings behaviour an operator relies on (DESIGN.md §5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_debug_off_refuses_to_start_without_allowed_hosts():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set when DEBUG=0" in result.stderr


def test_debug_off_starts_with_both():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="desk.example.com")
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
