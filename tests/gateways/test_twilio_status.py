"""Signed delivery-status callbacks (/webhooks/twilio/status): forward only, deduplicated, logged."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from apps.bus.events import EventType
from apps.bus.models import Event, StatusReceipt
from apps.bus.services import status_receipt_record
from apps.bus.services.outbox import outbox_settle_sent
from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.gateways.base import DeliveryStatus
from tests.concurrency import run_together
from tests.requires import needs_postgres

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True

STATUS = "/webhooks/twilio/status"


@pytest.fixture
def sent_reply(receive_sms, agent, twilio_server) -> Message:
    inbound = receive_sms(Body="My router is down")
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="On it")
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages
    return reply


@pytest.fixture
def callback(post_twilio, twilio_server):
    def post(message: Message, status: str, error_code: str = "", **extra: str):
        params = twilio_server.status_callback_params(message.provider_id, status, error_code)
        response = post_twilio(STATUS, **params, **extra)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/xml")
        message.refresh_from_db()
        return response

    return post


def _updates(message: Message) -> list[str]:
    return list(
        Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=message.pk)
        .order_by("id")
        .values_list("data__status", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_callbacks_in_order_move_the_status_forward(sent_reply, callback):
    events_before = _updates(sent_reply)
    callback(sent_reply, "sending")
    callback(sent_reply, "sent")
    callback(sent_reply, "delivered")
    assert sent_reply.status == Message.Status.DELIVERED
    assert _updates(sent_reply) == events_before + ["sending", "sent", "delivered"]
    assert StatusReceipt.objects.filter(provider_message_id=sent_reply.provider_id, applied=True).count() == 3


@pytest.mark.django_db(transaction=True)
def test_delivered_before_sent_ends_delivered(sent_reply, callback):
    events_before = _updates(sent_reply)
    callback(sent_reply, "delivered", RawDlrDoneDate="2503041006")
    callback(sent_reply, "sent")
    assert sent_reply.status == Message.Status.DELIVERED
    assert _updates(sent_reply) == events_before + ["delivered"]  # the late "sent" changes nothing visible
    receipts = StatusReceipt.objects.filter(provider_message_id=sent_reply.provider_id).order_by("id")
    assert [(r.status, r.applied) for r in receipts] == [("delivered", True), ("sent", True)]
    assert receipts[0].payload["RawDlrDoneDate"] == "2503041006"


@pytest.mark.django_db(transaction=True)
def test_duplicate_callback_is_one_receipt_and_one_event(sent_reply, callback):
    events_before = _updates(sent_reply)
    callback(sent_reply, "delivered")
    callback(sent_reply, "delivered")
    assert StatusReceipt.objects.filter(provider_message_id=sent_reply.provider_id, status="delivered").count() == 1
    assert _updates(sent_reply) == events_before + ["delivered"]


@pytest.mark.django_db(transaction=True)
def test_undelivered_keeps_the_error_code_and_says_it_in_words(sent_reply, callback):
    callback(sent_reply, "sent")
    callback(sent_reply, "undelivered", error_code="30003")
    assert sent_reply.status == Message.Status.UNDELIVERED
    assert sent_reply.error_code == "30003"
    assert sent_reply.error_message == "The customer's phone is unreachable (off or out of signal)."
    event = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=sent_reply.pk).latest("id")
    assert (event.data["status"], event.data["error_code"]) == ("undelivered", "30003")
    receipt = StatusReceipt.objects.get(provider_message_id=sent_reply.provider_id, status="undelivered")
    assert receipt.error_code == "30003"


@pytest.mark.django_db(transaction=True)
def test_unknown_error_code_keeps_the_code_and_the_channel_text(sent_reply, callback):
    callback(sent_reply, "failed", error_code="63999", ChannelStatusMessage="Something new went wrong")
    assert (sent_reply.status, sent_reply.error_code) == (Message.Status.FAILED, "63999")
    assert sent_reply.error_message == "Something new went wrong"


@pytest.mark.django_db(transaction=True)
def test_sent_after_undelivered_does_not_clear_the_error(sent_reply, callback):
    callback(sent_reply, "undelivered", error_code="30003")
    callback(sent_reply, "sent")
    assert (sent_reply.status, sent_reply.error_code) == (Message.Status.UNDELIVERED, "30003")


@pytest.mark.django_db(transaction=True)
def test_failed_callback_with_21610_opts_the_number_out(sent_reply, callback):
    callback(sent_reply, "failed", error_code="21610")
    assert sent_reply.status == Message.Status.FAILED
    assert Identity.objects.get().opted_out is True


@pytest.mark.django_db(transaction=True)
def test_whatsapp_read_receipt_moves_delivered_to_read(sent_reply, callback):
    callback(sent_reply, "delivered")
    callback(sent_reply, "read", EventType="READ")
    assert sent_reply.status == Message.Status.READ


@pytest.mark.django_db(transaction=True)
def test_callback_for_an_unknown_message_is_kept_unapplied(post_twilio, sms_inbox):
    response = post_twilio(
        STATUS,
        AccountSid="AC" + "1" * 32,
        MessageSid="SM" + "9" * 32,
        MessageStatus="delivered",
    )
    assert response.status_code == 200
    receipt = StatusReceipt.objects.get()
    assert (receipt.status, receipt.applied) == ("delivered", False)
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_callback_that_beats_the_send_record_is_applied_when_the_sid_is_recorded(
    receive_sms, agent, post_twilio, django_capture_on_commit_callbacks
):
    inbound = receive_sms()
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not recorded the send yet
        reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="On it")
    sid = "SM" + "4" * 32
    for status in ("sent", "delivered"):
        response = post_twilio(
            STATUS, AccountSid="AC" + "7" * 32, MessageSid=sid, SmsSid=sid, MessageStatus=status, To="+14155552671"
        )
        assert response.status_code == 200
    reply.refresh_from_db()
    assert reply.status == Message.Status.QUEUED
    assert list(StatusReceipt.objects.values_list("applied", flat=True)) == [False, False]

    outbox_settle_sent(message_id=reply.pk, provider_id=sid, status="queued")

    reply.refresh_from_db()
    assert (reply.provider_id, reply.status) == (sid, Message.Status.DELIVERED)
    assert list(StatusReceipt.objects.values_list("applied", flat=True)) == [True, True]
    event = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=reply.pk).latest("id")
    assert event.data["status"] == "delivered"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_callback_committing_while_the_send_is_recorded_is_not_lost(receive_sms, agent):
    """The callback's transaction is open (receipt written, message not found) when the send is recorded."""
    inbound = receive_sms()
    sid = "SM" + "6" * 32
    # No Twilio account: the reply stays queued until we record the send by hand below.
    message = Message.objects.create(
        conversation_id=inbound.conversation_id,
        seq=99,
        inbox_id=inbound.inbox_id,
        direction=Message.Direction.OUTBOUND,
        channel="phone",
        identity_id=inbound.identity_id,
        sender=agent,
        body="On it",
        status=Message.Status.QUEUED,
        created_at=inbound.created_at,
    )
    written = threading.Event()

    def callback_side() -> None:
        with transaction.atomic():
            status_receipt_record(source="twilio:AC1", status=DeliveryStatus(sid, "delivered"))
            written.set()
            time.sleep(0.3)  # still uncommitted while the send is recorded

    def send_side() -> None:
        written.wait(timeout=10)
        outbox_settle_sent(message_id=message.pk, provider_id=sid, status="queued")

    run_together(callback_side, send_side)
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert StatusReceipt.objects.get().applied is True


@pytest.mark.django_db(transaction=True)
def test_a_status_that_fails_to_apply_is_kept_and_applied_by_the_sweeper(sent_reply, callback, monkeypatch):
    """Twilio does not retry a status callback: it must be durable before anything can fail."""
    import datetime as dt

    from django.db import OperationalError
    from django.utils import timezone

    from apps.bus.tasks import sweep
    from apps.conversations.services import delivery

    real_advance = delivery.status_advance

    def broken(*args, **kwargs):
        raise OperationalError("the database went away while applying")

    monkeypatch.setattr(delivery, "status_advance", broken)
    callback(sent_reply, "delivered")  # still answered 200 (asserted by the fixture)
    receipt = StatusReceipt.objects.get(provider_message_id=sent_reply.provider_id, status="delivered")
    assert receipt.applied is False
    assert sent_reply.status == Message.Status.QUEUED

    monkeypatch.setattr(delivery, "status_advance", real_advance)
    StatusReceipt.objects.filter(pk=receipt.pk).update(received_at=timezone.now() - dt.timedelta(minutes=5))
    assert sweep()["statuses"] == 1
    sent_reply.refresh_from_db()
    assert sent_reply.status == Message.Status.DELIVERED
    assert StatusReceipt.objects.get(pk=receipt.pk).applied is True
    assert _updates(sent_reply)[-1] == "delivered"
