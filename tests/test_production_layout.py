"""The production layout with a real Celery worker on Redis (TASKS_EAGER=0).

The webhook must be answered, and the message durable, while no worker runs at all; the
worker started afterwards processes it and sends the agent's reply.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.models import LocalOutboxSend
from tests.conftest import twilio_params

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def production_env():
    if not (settings.HAS_POSTGRES and settings.HAS_REDIS):
        pytest.skip("the production layout needs PostgreSQL and Redis (REQUIRE_SERVICES=1 makes this a failure)")
    db = connection.settings_dict
    port = _free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL="redis://127.0.0.1:6379/15",
        CELERY_QUEUE=f"test-{uuid.uuid4().hex[:10]}",
        TASKS_EAGER="0",
        DATABASE_POOL="0",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        LOG_LEVEL="WARNING",
    )
    return env, port


def test_webhook_is_durable_without_a_worker_and_processed_once_one_starts(production_env, sms_inbox, agent):
    env, port = production_env
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    worker = None
    try:
        _wait_for(lambda: _get_ok(base + "/healthz"), 30, "the web process")
        params = twilio_params(Body="Is anyone there?")
        path = "/webhooks/twilio/messages"
        # The URL Twilio signs is PUBLIC_BASE_URL of the server, not the test's.
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(base + path, params)
        response = requests.post(base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
        assert response.status_code == 200
        entry = InboundEntry.objects.get(provider_message_id=params["MessageSid"])
        assert entry.state == InboundEntry.State.PENDING  # acknowledged and durable, not yet processed
        assert not Message.objects.exists()

        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "supportdesk",
                "worker",
                "-Q",
                env["CELERY_QUEUE"],
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for(lambda: InboundEntry.objects.get(pk=entry.pk).state == InboundEntry.State.DONE, 60, "processing")
        message = Message.objects.get()
        assert message.body == "Is anyone there?"

        # The agent's reply goes through the worker too (local sink: no Twilio credentials).
        token = _token_for(agent)
        reply = requests.post(
            f"{base}/api/v1/conversations/{message.conversation_id}/messages",
            json={"body": "Yes, how can I help?", "client_id": "r1"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        _wait_for(lambda: Message.objects.get(pk=reply.json()["id"]).status == "delivered", 30, "the reply")
        assert LocalOutboxSend.objects.filter(body="Yes, how can I help?").count() == 1
    finally:
        if worker:
            _stop(worker)
        _stop(web)


def _get_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _token_for(agent) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=agent)[0].key


def test_webhook_is_answered_fast_and_kept_when_the_broker_is_down(production_env, sms_inbox):
    env, port = production_env
    env = dict(env, CELERY_BROKER_URL=f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _get_ok(base + "/healthz"), 30, "the web process")
        from twilio.request_validator import RequestValidator

        params = twilio_params(Body="Broker down?")
        path = "/webhooks/twilio/messages"
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(base + path, params)
        started = time.monotonic()
        response = requests.post(base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed < 8, f"the webhook took {elapsed:.1f} s with the broker down"
        entry = InboundEntry.objects.get(provider_message_id=params["MessageSid"])
        assert entry.state == InboundEntry.State.PENDING  # durable; the sweeper queues it when the broker is back
    finally:
        _stop(web)
