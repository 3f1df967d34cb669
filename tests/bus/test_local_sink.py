"""Without Twilio credentials, replies go to the local outbox (LocalOutboxSend) and read delivered."""

from __future__ import annotations

import pytest

from apps.bus.events import EventType
from apps.bus.models import Event, OutboxEntry, StatusReceipt
from apps.bus.services import outbox_deliver
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.gateways.models import LocalOutboxSend


@pytest.mark.django_db(transaction=True)
def test_reply_lands_in_the_local_outbox_and_reads_delivered(receive_sms, agent, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    inbound = receive_sms(Body="hello")
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Hi, how can I help?")
    reply.refresh_from_db()
    sent = LocalOutboxSend.objects.get()
    assert (sent.channel, sent.to, sent.sender, sent.body) == (
        "phone",
        "+14155552671",
        "+15005550006",
        "Hi, how can I help?",
    )
    assert sent.message_id == reply.pk
    assert reply.provider_id == sent.provider_id
    assert reply.status == Message.Status.DELIVERED
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.DONE
    receipt = StatusReceipt.objects.get()
    assert (receipt.source, receipt.status, receipt.applied) == ("local", "delivered", True)
    statuses = list(
        Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=reply.pk)
        .order_by("id")
        .values_list("data__status", flat=True)
    )
    assert statuses == ["sent", "delivered"]


@pytest.mark.django_db(transaction=True)
def test_local_outbox_send_is_idempotent_per_message(receive_sms, agent, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    inbound = receive_sms()
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="once")
    OutboxEntry.objects.filter(message=reply).update(state=OutboxEntry.State.PENDING)  # as if the worker died
    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert LocalOutboxSend.objects.count() == 1
    reply.refresh_from_db()
    assert reply.provider_id == LocalOutboxSend.objects.get().provider_id
