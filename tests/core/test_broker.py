"""The Celery broker's Redis transport (supportdesk/broker.py): a close that finds the transport
already cleared is a connection error kombu ignores, not an AttributeError that stopped the
worker after a Redis restart (the chaos run: "Unrecoverable error: 'NoneType' object has no
attribute 'hostname'")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kombu import Connection

from tests.requires import needs_redis

ROOT = Path(__file__).resolve().parent.parent.parent


@needs_redis
def test_closing_a_channel_whose_transport_was_cleared_does_not_raise():
    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/15"  # only connects: nothing is written
    with Connection(url, transport="supportdesk.broker:Transport") as connection:
        channel = connection.default_channel
        # A message taken and not yet acknowledged: closing the channel gives it back to Redis.
        channel.qos._delivered["tag-1"] = object()
        # What kombu leaves when the same connection is closed twice (the consumer's broker
        # connection lost, then closed again while reconnecting): no client, no pool.
        connection.transport.client = None
        channel._pool = None
        connection.maybe_close_channel(channel)  # kombu's own close: ignores connection errors only
        assert channel.closed


def test_a_redis_broker_uses_the_project_transport_and_memory_does_not():
    code = "from django.conf import settings; print(getattr(settings, 'CELERY_BROKER_TRANSPORT', None))"
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL", "DEBUG")}
    results = {}
    for broker in ("redis://127.0.0.1:6379/0", "memory://localhost/"):
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "supportdesk.settings", "CELERY_BROKER_URL": broker, "DEBUG": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        results[broker] = out.stdout.strip().splitlines()[-1]
    assert results == {"redis://127.0.0.1:6379/0": "supportdesk.broker:Transport", "memory://localhost/": "None"}
