"""/readyz names the dependency that fails (issue 10): 503 and `failing` in the JSON."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.requires import needs_redis
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"  # a free port: nothing listens there


@needs_redis
def test_a_channel_layer_redis_that_does_not_answer_is_named(client, settings, db):
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"].append({"address": DEAD_REDIS})  # one shard of two is down
    settings.CHANNEL_LAYERS = layers
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["channel_layer"]
    assert body["checks"] == {"database": "ok", "channel_layer": "error", "cache": "ok", "redis": "ok"}
    assert "127.0.0.1" not in response.content.decode()  # the public answer names no host


@needs_redis
def test_a_cache_that_does_not_answer_is_named(client, settings, db):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


def test_a_database_that_does_not_answer_is_named():
    """A process whose database is down (nothing listens on its port) says so, and only that."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/supportdesk",
        "REDIS_URL": "",
        "DEBUG": "1",
    }
    code = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/readyz')\n"
        "print(r.status_code, json.dumps(r.json()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    body = json.loads(body)
    assert body["failing"] == ["database"]
    assert body["checks"]["channel_layer"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["redis"].startswith("not configured")
    assert "readyz: database check failed" in result.stderr  # the reason is in the log
