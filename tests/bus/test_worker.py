"""The bus worker (`manage.py run_bus`) in production mode: woken by PostgreSQL doorbells, it
stores what the webhooks journalled and sends what agents queued, without Celery or Redis."""

from __future__ import annotations

import time

import pytest

from apps.bus.models import InboundEntry, OutboxEntry, StatusReceipt
from apps.bus.worker import BusWorker
from apps.conversations.models import Message
from apps.conversations.services import message_send
from tests.conftest import twilio_params
from tests.requires import needs_postgres
from tests.servers import wait_for

pytestmark = [needs_postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BUS_POLL_SECONDS = 30.0  # long: what happens sooner was rung, not polled
    bus = BusWorker()
    bus.start()
    yield bus
    bus.stop()


def test_a_webhook_is_stored_by_the_worker_as_soon_as_it_is_journalled(worker, post_twilio, sms_inbox):
    params = twilio_params(Body="Hello from a short code")
    started = time.monotonic()
    assert post_twilio(**params).status_code == 200
    wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).exists(), timeout=5)
    assert time.monotonic() - started < 5  # woken by the doorbell, not by its 30 s poll
    assert InboundEntry.objects.get().state == InboundEntry.State.DONE


def test_a_reply_is_sent_by_the_worker_once(worker, post_twilio, sms_inbox, agent, twilio_server):
    params = twilio_params(Body="Is anyone there?")
    post_twilio(**params)
    wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).exists(), timeout=5)
    inbound = Message.objects.get(provider_id=params["MessageSid"])
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Yes, Ana here", client_id="c1")
    wait_for(lambda: OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.DONE, timeout=5)
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages
    assert len(twilio_server.message_posts()) == 1


def test_a_status_callback_is_applied_by_the_worker(worker, post_twilio, sms_inbox, agent, twilio_server):
    params = twilio_params(Body="Status please")
    post_twilio(**params)
    wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).exists(), timeout=5)
    inbound = Message.objects.get(provider_id=params["MessageSid"])
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Sent it", client_id="c2")
    wait_for(lambda: Message.objects.filter(pk=reply.pk, provider_id__isnull=False).exists(), timeout=5)
    reply.refresh_from_db()
    started = time.monotonic()
    status = twilio_server.status_callback_params(reply.provider_id, "delivered", "")
    assert post_twilio("/webhooks/twilio/status", **status).status_code == 200
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == Message.Status.DELIVERED, timeout=5)
    assert time.monotonic() - started < 5  # rung, not polled
    assert not StatusReceipt.objects.filter(applied=False).exists()
