"""The webhook hot path, pinned by query count (the numbers are the budget; lower is fine)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.bus.models import Event, InboundEntry, StatusReceipt
from apps.bus.services import status_receipt_record, status_receipts_drain
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.gateways.base import DeliveryStatus
from tests.conftest import twilio_params
from tests.factories import ConversationFactory
from tests.requires import needs_postgres

# Intake + processing in one request (tasks run eagerly), no agent online to assign.
# 2026-12-06: the drain's claim and sender-order check are one statement, the event-order lock,
# doorbell and event rows one INSERT, a new customer's contact and identity one INSERT (no
# savepoint), and the assignee goes into the conversation's one UPDATE: 25 -> 19 and 22 -> 17.
# 2026-12-07: these count statements; on PostgreSQL the drain now sends most in fewer round
# trips (apps.core.rawsql.run). Assignment's candidates and their load are one round trip, so
# the load is counted even when no agent is a candidate (here, where nobody is online): +1.
FIRST_MESSAGE_QUERIES = 19  # new contact, identity and conversation
FOLLOW_UP_QUERIES = 18  # known customer, open conversation
# The bus worker's receipt drain, whatever the batch size: pick, try-lock, read the receipts,
# lock the messages (+ their attachments), one UPDATE, the event lock and INSERT, mark applied.
RECEIPT_BATCH_QUERIES = 12


@pytest.fixture
def sent_sms(receive_sms, agent, twilio_server) -> Message:
    inbound = receive_sms(Body="Where is my parcel?")
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="On its way")
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages
    return reply


@pytest.fixture
def sent_sms_many(sms_inbox) -> list[Message]:
    conversation = ConversationFactory(inbox=sms_inbox)
    now = timezone.now()
    return Message.objects.bulk_create(
        Message(
            conversation=conversation,
            seq=n + 1,
            inbox=sms_inbox,
            direction=Message.Direction.OUTBOUND,
            channel="phone",
            body=f"reply {n}",
            provider_id=f"SM{n:032d}",
            status=Message.Status.QUEUED,
            created_at=now,
        )
        for n in range(50)
    )


@pytest.mark.django_db(transaction=True)
def test_first_message_of_a_new_customer_query_budget(post_twilio, agent, django_assert_max_num_queries):
    with django_assert_max_num_queries(FIRST_MESSAGE_QUERIES):
        response = post_twilio(**twilio_params(Body="one"))
    assert response.status_code == 200
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_follow_up_message_query_budget(post_twilio, agent, django_assert_max_num_queries):
    post_twilio(**twilio_params(Body="one"))
    with django_assert_max_num_queries(FOLLOW_UP_QUERIES):
        response = post_twilio(**twilio_params(Body="two"))
    assert response.status_code == 200
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_webhook_writes_one_row_before_it_answers(post_twilio, sms_inbox, django_capture_on_commit_callbacks):
    """Everything else happens after the answer (DESIGN.md §1.2): one INSERT into the journal."""
    with django_capture_on_commit_callbacks(execute=False) as queued, CaptureQueriesContext(connection) as ctx:
        response = post_twilio(**twilio_params())
    assert response.status_code == 200
    statements = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["INSERT"]
    assert 'INTO "bus_inboundentry"' in ctx.captured_queries[statements.index("INSERT")]["sql"]
    assert len(queued) == 1  # the processing task, queued for after commit
    assert InboundEntry.objects.get().state == InboundEntry.State.PENDING
    assert not Message.objects.exists()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_status_webhook_writes_one_row_before_it_answers(settings, post_twilio, sent_sms, twilio_server):
    """With a bus worker (production), a status callback is journalled and answered; the worker's
    receipt drain applies it (apps.bus.services.receipts.status_receipts_drain)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = twilio_server.status_callback_params(sent_sms.provider_id, "delivered", "")
    with CaptureQueriesContext(connection) as ctx:
        response = post_twilio("/webhooks/twilio/status", **params)
    assert response.status_code == 200
    # One statement on PostgreSQL (its own transaction): the INSERT and the RECEIPTS doorbell.
    [statement] = [q["sql"] for q in ctx.captured_queries]
    assert 'INSERT INTO "bus_statusreceipt"' in statement
    assert "pg_notify" in statement
    sent_sms.refresh_from_db()
    assert sent_sms.status != Message.Status.DELIVERED  # not yet: the drain applies it


@pytest.mark.django_db
def test_receipt_drain_applies_a_batch_in_one_transaction(settings, sent_sms_many, django_assert_max_num_queries):
    """50 messages' statuses (100 receipts) in a constant number of queries."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    for message in sent_sms_many:
        for status in ("sent", "delivered"):
            status_receipt_record(source="twilio:AC1", status=DeliveryStatus(message.provider_id, status))
    assert StatusReceipt.objects.filter(applied=False).count() == 2 * len(sent_sms_many)
    events_before = Event.objects.count()
    with django_assert_max_num_queries(RECEIPT_BATCH_QUERIES):
        applied, changed = status_receipts_drain(limit=200)
    assert (applied, changed) == (2 * len(sent_sms_many), len(sent_sms_many))
    assert not StatusReceipt.objects.filter(applied=False).exists()
    assert set(Message.objects.filter(pk__in=[m.pk for m in sent_sms_many]).values_list("status", flat=True)) == {
        Message.Status.DELIVERED
    }
    assert Event.objects.count() == events_before + len(sent_sms_many)
    assert status_receipts_drain() == (0, 0)


@pytest.mark.django_db
def test_receipt_drain_leaves_receipts_whose_send_is_not_recorded(settings, sms_inbox, django_assert_max_num_queries):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    status_receipt_record(source="twilio:AC1", status=DeliveryStatus("SMunknown", "delivered"))
    # Looked at once: set waiting (for outbox_settle_sent or the sweeper), not applied...
    assert status_receipts_drain() == (1, 0)
    receipt = StatusReceipt.objects.get()
    assert (receipt.applied, receipt.waiting) == (False, True)
    # ...and never read by the drain again, however many pile up.
    with django_assert_max_num_queries(3):
        assert status_receipts_drain() == (0, 0)


@pytest.mark.django_db
def test_a_waiting_receipt_is_applied_when_its_send_is_recorded(settings, sms_inbox):
    from django.db import transaction

    from apps.bus.services.outbox import outbox_settle_sent

    settings.CELERY_TASK_ALWAYS_EAGER = False
    conversation = ConversationFactory(inbox=sms_inbox)
    reply = Message.objects.create(
        conversation=conversation,
        seq=1,
        inbox=sms_inbox,
        direction=Message.Direction.OUTBOUND,
        channel="phone",
        body="on its way",
        status=Message.Status.QUEUED,
        created_at=timezone.now(),
    )
    # The callback beat the record of the send: the drain sets it waiting.
    status_receipt_record(source="twilio:AC1", status=DeliveryStatus("SMlate", "delivered"))
    assert status_receipts_drain() == (1, 0)
    with transaction.atomic():
        outbox_settle_sent(message_id=reply.pk, provider_id="SMlate", status="sent")
    reply.refresh_from_db()
    assert (reply.provider_id, reply.status) == ("SMlate", Message.Status.DELIVERED)
    assert StatusReceipt.objects.get().applied is True
