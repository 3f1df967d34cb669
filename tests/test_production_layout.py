"""The production layout: a web process and a bus worker (manage.py run_bus) on PostgreSQL (TASKS_EAGER=0).

The webhook must be answered, and the message durable, while no worker runs at all; the
bus worker started afterwards processes it and sends the agent's reply.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
import requests

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.models import LocalOutboxSend
from tests.conftest import twilio_params
from tests.requires import needs_postgres_and_redis
from tests.servers import ROOT, free_port, server_env, start_server, stop_process, stop_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    needs_postgres_and_redis,
]
INBOUND = "/webhooks/twilio/messages"


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_webhook_is_durable_without_a_worker_and_processed_once_one_starts(tmp_path, sms_inbox, agent):
    from rest_framework.authtoken.models import Token

    queue = f"test-{uuid.uuid4().hex[:10]}"
    web = start_server(tmp_path, TASKS_EAGER="0", CELERY_QUEUE=queue)
    worker = None
    try:
        params = twilio_params(Body="Is anyone there?")
        web.post_twilio(INBOUND, params)
        entry = InboundEntry.objects.get(provider_message_id=params["MessageSid"])
        assert entry.state == InboundEntry.State.PENDING  # acknowledged and durable, not yet processed
        assert not Message.objects.exists()

        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_bus"],
            cwd=ROOT, env=server_env(web.url, TASKS_EAGER="0", CELERY_QUEUE=queue),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for(lambda: InboundEntry.objects.get(pk=entry.pk).state == InboundEntry.State.DONE, 60, "processing")
        message = Message.objects.get()
        assert message.body == "Is anyone there?"

        # The agent's reply goes through the worker too (local sink: no Twilio credentials).
        token = Token.objects.get_or_create(user=agent)[0].key
        reply = requests.post(
            f"{web.url}/api/v1/conversations/{message.conversation_id}/messages",
            json={"body": "Yes, how can I help?", "client_id": "r1"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        _wait_for(lambda: Message.objects.get(pk=reply.json()["id"]).status == "delivered", 30, "the reply")
        assert LocalOutboxSend.objects.filter(body="Yes, how can I help?").count() == 1
    finally:
        if worker:
            stop_process(worker)
        stop_server(web)


def test_webhook_is_answered_fast_and_kept_when_the_broker_is_down(tmp_path, sms_inbox):
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    web = start_server(tmp_path, TASKS_EAGER="0", CELERY_BROKER_URL=dead_broker)
    try:
        params = twilio_params(Body="Broker down?")
        started = time.monotonic()
        web.post_twilio(INBOUND, params)
        elapsed = time.monotonic() - started
        assert elapsed < 8, f"the webhook took {elapsed:.1f} s with the broker down"
        entry = InboundEntry.objects.get(provider_message_id=params["MessageSid"])
        assert entry.state == InboundEntry.State.PENDING  # durable; the sweeper queues it when the broker is back
    finally:
        stop_server(web)
