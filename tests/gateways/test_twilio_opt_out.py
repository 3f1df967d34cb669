"""STOP / START: the opt-out is recorded, and nothing is sent to an opted-out number."""

from __future__ import annotations

import pytest

from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.core.errors import RecipientOptedOut


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields",
    [
        {"Body": "STOP", "OptOutType": "STOP"},  # Advanced Opt-Out on the Messaging Service
        {"Body": "stop"},  # no OptOutType: the keyword itself
        {"Body": "  Unsubscribe "},
    ],
    ids=["OptOutType", "plain-stop", "unsubscribe"],
)
def test_stop_opts_the_number_out_and_blocks_replies(receive_sms, agent, twilio_server, fields):
    first = receive_sms(Body="My router is down")
    stop = receive_sms(**fields)
    identity = Identity.objects.get()
    assert identity.opted_out is True
    assert identity.opted_out_at is not None
    assert stop.meta["keyword"] == "stop"
    activity = Message.objects.get(kind=Message.Kind.ACTIVITY)
    assert activity.meta == {"opt_out": "stop"}
    assert "opted out" in activity.body
    assert activity.seq == stop.seq + 1
    messages_before = Message.objects.count()

    with pytest.raises(RecipientOptedOut):
        message_send(conversation_id=first.conversation_id, agent=agent, body="Did you try turning it off?")

    assert Message.objects.count() == messages_before
    assert OutboxEntry.objects.count() == 0
    assert twilio_server.requests == []


@pytest.mark.django_db(transaction=True)
def test_stop_inside_a_sentence_is_not_an_opt_out(receive_sms, agent, twilio_server):
    message = receive_sms(Body="Stop please, the router is fine now")
    assert Identity.objects.get().opted_out is False
    assert "keyword" not in message.meta
    reply, _ = message_send(conversation_id=message.conversation_id, agent=agent, body="Great!")
    reply.refresh_from_db()
    assert len(twilio_server.message_posts()) == 1
    assert reply.provider_id in twilio_server.messages


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("start", [{"Body": "START", "OptOutType": "START"}, {"Body": "start"}, {"Body": "unstop"}])
def test_start_opts_back_in_and_replies_go_out_again(receive_sms, agent, twilio_server, start):
    first = receive_sms(Body="STOP", OptOutType="STOP")
    receive_sms(**start)
    identity = Identity.objects.get()
    assert identity.opted_out is False
    assert identity.opted_out_at is None
    activities = list(Message.objects.filter(kind=Message.Kind.ACTIVITY).order_by("seq").values_list("meta", flat=True))
    assert activities == [{"opt_out": "stop"}, {"opt_out": "start"}]

    reply, created = message_send(conversation_id=first.conversation_id, agent=agent, body="Welcome back")
    assert created
    [post] = twilio_server.message_posts()
    assert post.field("To") == "+14155552671"
    assert post.field("Body") == "Welcome back"


@pytest.mark.django_db(transaction=True)
def test_start_without_a_previous_stop_records_nothing(receive_sms):
    receive_sms(Body="START")
    assert Identity.objects.get().opted_out is False
    assert not Message.objects.filter(kind=Message.Kind.ACTIVITY).exists()


@pytest.mark.django_db(transaction=True)
def test_stop_by_sms_also_opts_out_the_whatsapp_identity(receive_sms, agent, twilio_server):
    receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006", Body="hi", WaId="14155552671")
    message = receive_sms(From="+14155552671", Body="STOP")
    assert set(Identity.objects.values_list("kind", "opted_out")) == {("phone", True), ("whatsapp", True)}
    whatsapp = Identity.objects.get(kind="whatsapp")
    with pytest.raises(RecipientOptedOut):
        message_send(conversation_id=message.conversation_id, agent=agent, body="hello?", identity_id=whatsapp.pk)
    assert twilio_server.requests == []


@pytest.mark.django_db
def test_queued_reply_to_a_number_that_opted_out_before_the_task_ran_is_not_sent(
    receive_sms, agent, twilio_server, django_capture_on_commit_callbacks
):
    first = receive_sms(Body="help me")
    with django_capture_on_commit_callbacks(execute=False) as pending_tasks:
        reply, _ = message_send(conversation_id=first.conversation_id, agent=agent, body="On it")
    assert reply.status == Message.Status.QUEUED
    receive_sms(Body="STOP")  # arrives before the worker gets to the send

    for task in pending_tasks:  # the worker runs the queued send now
        task()

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert reply.error_code == "opted_out"
    assert reply.error_message == "The customer has opted out (replied STOP); nothing was sent."
    assert reply.provider_id is None
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.FAILED
    assert twilio_server.requests == []
    assert outbox_deliver(message_id=reply.pk) == "skipped"
    assert twilio_server.requests == []
