"""The bus's health as /metrics shows it, read from the database at scrape time (issue 10)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.bus.health import bus_health, celery_queue_length
from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt
from apps.conversations.models import Message
from tests.factories import ConversationFactory
from tests.requires import needs_redis

NOW = timezone.now().replace(microsecond=0)
_seq = itertools.count(1)


def _outbound(conversation, *, channel: str, status: str, state: str, attempts: int = 0, due: dt.datetime = NOW):
    message = Message.objects.create(
        conversation=conversation,
        seq=next(_seq),
        inbox=conversation.inbox,
        direction=Message.Direction.OUTBOUND,
        channel=channel,
        status=status,
        body="reply",
        created_at=NOW,
    )
    OutboxEntry.objects.create(message=message, state=state, attempts=attempts, next_attempt_at=due)
    return message


def _inbound(state: str, *, age: float = 0.0) -> InboundEntry:
    entry = InboundEntry.objects.create(
        source="twilio:AC1", provider_message_id=uuid.uuid4().hex, channel="sms", state=state
    )
    InboundEntry.objects.filter(pk=entry.pk).update(received_at=NOW - dt.timedelta(seconds=age))
    return entry


@pytest.fixture
def busy_bus(db):
    conversation = ConversationFactory()
    pending, done, failed = OutboxEntry.State.PENDING, OutboxEntry.State.DONE, OutboxEntry.State.FAILED
    for _ in range(2):
        _outbound(conversation, channel="phone", status="queued", state=pending)
    _outbound(
        conversation, channel="phone", status="queued", state=pending, attempts=2, due=NOW - dt.timedelta(seconds=45)
    )
    _outbound(
        conversation, channel="phone", status="failed", state=failed, attempts=8, due=NOW - dt.timedelta(minutes=5)
    )
    _outbound(conversation, channel="email", status="queued", state=pending, due=NOW + dt.timedelta(minutes=1))
    for _ in range(2):
        _outbound(
            conversation,
            channel="phone",
            status="delivered",
            state=done,
            attempts=1,
            due=NOW - dt.timedelta(minutes=10),
        )
    _outbound(conversation, channel="email", status="sent", state=done, attempts=1, due=NOW - dt.timedelta(minutes=59))
    # Sent two hours ago: not a send of the last hour.
    _outbound(
        conversation, channel="phone", status="delivered", state=done, attempts=1, due=NOW - dt.timedelta(hours=2)
    )
    _inbound(InboundEntry.State.PENDING, age=120)
    _inbound(InboundEntry.State.PENDING, age=30)
    _inbound(InboundEntry.State.FLAGGED, age=600)
    _inbound(InboundEntry.State.FAILED, age=900)
    _inbound(InboundEntry.State.DONE, age=3000)
    for applied in (False, False, True):
        StatusReceipt.objects.create(
            source="twilio:AC1", provider_message_id=uuid.uuid4().hex, status="delivered", applied=applied
        )
    events = [Event.objects.create(type="message.created") for _ in range(3)]
    return events[-1].id


def test_bus_health_reads_every_figure_from_the_tables(busy_bus, django_assert_num_queries):
    with django_assert_num_queries(6):
        health = bus_health(now=NOW)
    assert (health.inbound_pending, health.inbound_flagged, health.inbound_failed) == (2, 1, 1)
    assert health.inbound_oldest_pending_age == 120.0
    assert health.outbox == {
        ("phone", "pending"): 2,
        ("phone", "retrying"): 1,
        ("phone", "failed"): 1,
        ("email", "pending"): 1,
        ("email", "retrying"): 0,
    }
    assert health.outbox_oldest_due_age == 45.0
    # The failed one fell due 5 minutes ago: a send (that failed) of the last hour.
    assert health.sends == {("phone", "delivered"): 2, ("phone", "failed"): 1, ("email", "sent"): 1}
    assert health.status_receipts_unapplied == 2
    assert health.event_head == busy_bus


def test_an_idle_bus_reports_zeros(db):
    health = bus_health(now=NOW)
    assert (health.inbound_pending, health.inbound_oldest_pending_age, health.outbox_oldest_due_age) == (0, 0.0, 0.0)
    assert (health.outbox, health.sends, health.status_receipts_unapplied, health.event_head) == ({}, {}, 0, 0)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_shows_the_bus_health_at_scrape_time(busy_bus, client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests-7Qm2vR9"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests-7Qm2vR9")
    assert response.status_code == 200
    samples = _samples(response.content.decode())
    assert samples[("supportdesk_bus_health_up", ())] == 1
    assert samples[("supportdesk_bus_inbound_pending", ())] == 2
    assert samples[("supportdesk_bus_inbound_unprocessable", (("state", "flagged"),))] == 1
    assert samples[("supportdesk_bus_outbox", (("channel", "phone"), ("state", "retrying")))] == 1
    assert samples[("supportdesk_bus_outbox", (("channel", "phone"), ("state", "failed")))] == 1
    assert samples[("supportdesk_bus_sends_last_hour", (("channel", "phone"), ("result", "delivered")))] == 2
    assert samples[("supportdesk_bus_status_receipts_unapplied", ())] == 2
    assert samples[("supportdesk_bus_event_log_head_id", ())] == busy_bus
    # The age is computed at the scrape: at least what the fixture set.
    assert samples[("supportdesk_bus_inbound_oldest_pending_age_seconds", ())] >= 120


def test_a_new_pending_entry_shows_at_the_next_scrape(busy_bus):
    """Nothing is cached in the process: another process's write is seen by the next read."""
    before = bus_health().inbound_pending
    _inbound(InboundEntry.State.PENDING)
    assert bus_health().inbound_pending == before + 1


# --- the Celery queue ---------------------------------------------------------------------------


def test_no_celery_queue_length_without_a_redis_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert celery_queue_length() is None
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://localhost/"
    assert celery_queue_length() is None


@needs_redis
def test_celery_queue_length_counts_the_messages_kombu_queued(settings):
    """Messages put on a queue by kombu (what Celery publishes with), counted with LLEN."""
    from kombu import Connection

    queue = f"sdtest-queue-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    with Connection(settings.REDIS_URL) as connection:
        simple = connection.SimpleQueue(queue)
        try:
            for n in range(3):
                simple.put({"n": n})
            simple.put({"n": 9}, priority=6)
            assert celery_queue_length() == {queue: 4}
            simple.get(timeout=5).ack()
            assert celery_queue_length() == {queue: 3}
        finally:
            simple.clear()
            simple.close()
    assert celery_queue_length() == {queue: 0}
