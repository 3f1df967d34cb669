"""Webhooks and broadcasts are sent by the bus worker's job loop (`run_bus`), woken by the
doorbells — never on the request that caused the event."""

from __future__ import annotations

import time

import pytest

from apps.broadcasts.models import BroadcastRecipient
from apps.broadcasts.services import broadcast_create, broadcast_send
from apps.bus import registry
from apps.bus.worker import BusWorker
from apps.conversations.models import Label, Message
from apps.conversations.services import conversation_update
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_subscription_create
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


def test_the_jobs_are_registered_with_the_bus():
    assert {job.name for job in registry.jobs()} >= {"webhooks", "broadcasts"}


def test_the_worker_posts_a_webhook_when_the_event_is_logged(worker, post_twilio, sms_inbox, admin, receiver):
    webhook_subscription_create(by=admin, url=receiver.url, event_types=["message.created"], allow_private=True)
    params = twilio_params(Body="Hello from a short code")
    started = time.monotonic()
    response = post_twilio(**params)
    assert response.status_code == 200
    assert receiver.received == []  # not on the request
    wait_for(lambda: receiver.received, timeout=15, what="the delivery")
    assert time.monotonic() - started < 15  # woken by the doorbells, not by its 30 s poll
    wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").exists(), timeout=10)
    assert len(receiver.received) == 1


def test_the_worker_sends_a_broadcast(worker, post_twilio, sms_inbox, admin, twilio_server):
    params = twilio_params(Body="No signal")
    post_twilio(**params)
    inbound = wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).first(), timeout=5)
    conversation_update(conversation_id=inbound.conversation_id, by=admin, labels=["outage"])
    broadcast = broadcast_create(
        by=admin,
        title="Outage",
        body="We are on it.",
        audience={"kind": "label", "label": Label.objects.get(name="outage").pk},
    )
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    recipient = BroadcastRecipient.objects.get()
    wait_for(
        lambda: BroadcastRecipient.objects.filter(pk=recipient.pk, state="sent").exists(), timeout=15, what="the job"
    )
    wait_for(lambda: twilio_server.message_posts(), timeout=15, what="the outbox send")
    assert [p.field("Body") for p in twilio_server.message_posts()] == ["We are on it."]
