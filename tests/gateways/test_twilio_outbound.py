"""Agent replies sent by the real twilio SDK to the local Twilio server (tests/fakes/twilio_server.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.events import EventType
from apps.bus.models import Event, OutboxEntry
from apps.bus.services import outbox_deliver
from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.conversations.services import message_send
from tests.fakes.twilio_server import ScriptedResponse, problem_details


@pytest.fixture
def inbound(receive_sms):
    return receive_sms(Body="My router is down")


def _reply(inbound: Message, agent, body: str = "Have you tried turning it off and on?") -> Message:
    message, created = message_send(conversation_id=inbound.conversation_id, agent=agent, body=body)
    assert created
    message.refresh_from_db()
    return message


def _make_due(message: Message) -> None:
    """Let the backoff time pass."""
    OutboxEntry.objects.filter(message=message).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
def test_reply_is_sent_with_basic_auth_and_records_the_provider_sid(inbound, agent, twilio_server):
    reply = _reply(inbound, agent)
    [post] = twilio_server.message_posts()
    assert post.path == f"/2010-04-01/Accounts/{twilio_server.account_sid}/Messages.json"
    assert post.auth == (twilio_server.account_sid, "test-auth-token")
    assert post.form == {
        "To": ["+14155552671"],
        "From": ["+15005550006"],
        "Body": ["Have you tried turning it off and on?"],
        # Our message id rides along: its first callback settles a send whose answer was lost.
        "StatusCallback": [f"http://testserver/webhooks/twilio/status?m={reply.pk}"],
    }
    assert post.headers["User-Agent"].startswith("twilio-python/")
    assert reply.provider_id in twilio_server.messages
    assert reply.provider_id.startswith("SM") and len(reply.provider_id) == 34
    assert reply.status == Message.Status.QUEUED  # Twilio answered "queued"; callbacks move it on
    assert reply.error_code == ""
    outbox = OutboxEntry.objects.get(message=reply)
    assert (outbox.state, outbox.attempts, outbox.lease_until) == (OutboxEntry.State.DONE, 1, None)
    updated = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=reply.pk)
    assert updated.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_sent_message_is_never_sent_again(inbound, agent, twilio_server):
    reply = _reply(inbound, agent)
    _make_due(reply)
    assert outbox_deliver(message_id=reply.pk) == "skipped"
    assert len(twilio_server.message_posts()) == 1


@pytest.mark.django_db(transaction=True)
def test_resend_with_the_same_client_id_sends_once(inbound, agent, twilio_server):
    first, created = message_send(conversation_id=inbound.conversation_id, agent=agent, body="hi", client_id="c-1")
    again, created_again = message_send(
        conversation_id=inbound.conversation_id, agent=agent, body="hi", client_id="c-1"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert len(twilio_server.message_posts()) == 1


@pytest.mark.django_db(transaction=True)
def test_whatsapp_reply_goes_out_with_whatsapp_addresses(receive_sms, agent, twilio_server):
    inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006", WaId="14155552671")
    reply = _reply(inbound, agent)
    [post] = twilio_server.message_posts()
    assert post.field("To") == "whatsapp:+14155552671"
    assert post.field("From") == "whatsapp:+15005550006"
    assert reply.channel == "whatsapp"
    assert reply.provider_id in twilio_server.messages


@pytest.mark.django_db(transaction=True)
def test_inbox_with_a_messaging_service_sends_through_it(inbound, agent, twilio_server, sms_inbox):
    sms_inbox.config = {"messaging_service_sid": "MG" + "5" * 32}
    sms_inbox.save()
    reply = _reply(inbound, agent)
    [post] = twilio_server.message_posts()
    assert post.field("MessagingServiceSid") == "MG" + "5" * 32
    assert post.field("From") is None
    assert twilio_server.messages[reply.provider_id]["status"] == "accepted"
    assert reply.status == Message.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_21610_fails_the_message_opts_the_number_out_and_is_not_retried(inbound, agent, twilio_server):
    twilio_server.script_error(400, 21610, "Attempt to send to unsubscribed recipient")
    reply = _reply(inbound, agent)
    assert reply.status == Message.Status.FAILED
    assert reply.error_code == "21610"
    assert reply.error_message == "The customer has opted out (replied STOP)."
    assert reply.provider_id is None
    assert Identity.objects.get().opted_out is True
    outbox = OutboxEntry.objects.get(message=reply)
    assert outbox.state == OutboxEntry.State.FAILED
    assert outbox.attempts == 1
    assert "Attempt to send to unsubscribed recipient" in outbox.last_error
    assert len(twilio_server.message_posts()) == 1
    _make_due(reply)
    assert outbox_deliver(message_id=reply.pk) == "skipped"
    assert len(twilio_server.message_posts()) == 1
    failed = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=reply.pk).latest("id")
    assert (failed.data["status"], failed.data["error_code"]) == ("failed", "21610")


@pytest.mark.django_db(transaction=True)
def test_21610_as_rfc9457_problem_details_is_permanent_too(inbound, agent, twilio_server):
    twilio_server.script(problem_details(400, 21610, "Unsubscribed recipient", "The 'To' number has opted out"))
    reply = _reply(inbound, agent)
    assert reply.status == Message.Status.FAILED
    assert reply.error_code == "21610"
    assert Identity.objects.get().opted_out is True
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.FAILED
    assert len(twilio_server.message_posts()) == 1


@pytest.mark.django_db(transaction=True)
def test_invalid_number_21211_fails_without_opting_out(inbound, agent, twilio_server):
    twilio_server.script_error(400, 21211, "The 'To' number +14155552671 is not a valid phone number.")
    reply = _reply(inbound, agent)
    assert (reply.status, reply.error_code) == (Message.Status.FAILED, "21211")
    assert reply.error_message == "The number is not a valid phone number."
    assert Identity.objects.get().opted_out is False
    assert len(twilio_server.message_posts()) == 1


@pytest.mark.django_db(transaction=True)
def test_wrong_credentials_keep_the_reply_queued_until_they_are_fixed(inbound, agent, twilio_server, settings):
    """20003 is our configuration, not the customer's message: failing every queued reply would
    lose them all to one typo in TWILIO_AUTH_TOKEN. They wait (with backoff) and go out once fixed."""
    twilio_server.auth_token = "the-real-token"  # ours (test-auth-token) is now wrong
    reply = _reply(inbound, agent)
    outbox = OutboxEntry.objects.get(message=reply)
    [post] = twilio_server.message_posts()
    assert post.auth == (twilio_server.account_sid, "test-auth-token")
    assert twilio_server.messages == {}
    assert (reply.status, reply.error_code) == (Message.Status.QUEUED, "")
    assert (outbox.state, outbox.attempts) == (OutboxEntry.State.PENDING, 1)
    assert "20003" in outbox.last_error

    settings.TWILIO_AUTH_TOKEN = "the-real-token"
    _make_due(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages
    assert len(twilio_server.message_posts()) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "failure",
    [
        ScriptedResponse(429, b'{"code": 20429, "message": "Too Many Requests", "status": 429}'),
        ScriptedResponse(500, b"<html>Internal Server Error</html>", "text/html"),
        ScriptedResponse(503, b'{"code": 20503, "message": "Service Unavailable", "status": 503}'),
    ],
    ids=["429", "500-html", "503"],
)
def test_transient_failure_is_retried_later_then_sent(inbound, agent, twilio_server, failure):
    twilio_server.script(failure)
    before = timezone.now()
    reply = _reply(inbound, agent)
    outbox = OutboxEntry.objects.get(message=reply)
    assert reply.status == Message.Status.QUEUED
    assert reply.provider_id is None
    assert outbox.state == OutboxEntry.State.PENDING
    assert outbox.attempts == 1
    assert outbox.next_attempt_at > before + dt.timedelta(seconds=1)
    assert outbox.lease_until is None
    assert str(failure.status) in outbox.last_error
    assert len(twilio_server.message_posts()) == 1

    assert outbox_deliver(message_id=reply.pk) == "skipped"  # the backoff time has not come
    assert len(twilio_server.message_posts()) == 1

    _make_due(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    outbox.refresh_from_db()
    assert len(twilio_server.message_posts()) == 2
    assert reply.provider_id in twilio_server.messages
    assert reply.status == Message.Status.QUEUED
    assert (outbox.state, outbox.attempts) == (OutboxEntry.State.DONE, 2)


@pytest.mark.django_db(transaction=True)
def test_backoff_doubles_with_each_attempt(inbound, agent, twilio_server):
    twilio_server.script(*[ScriptedResponse(500, b"{}")] * 3)
    started = timezone.now()
    reply = _reply(inbound, agent)
    waits = [(OutboxEntry.objects.get(message=reply).next_attempt_at - started).total_seconds()]
    for _ in range(2):
        _make_due(reply)
        started = timezone.now()
        assert outbox_deliver(message_id=reply.pk) == "retry"
        waits.append((OutboxEntry.objects.get(message=reply).next_attempt_at - started).total_seconds())
    for wait, expected in zip(waits, [2, 4, 8], strict=True):
        assert expected <= wait < expected + 2


@pytest.mark.django_db(transaction=True)
def test_twilio_unreachable_is_retried(inbound, agent, twilio_server, settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    reply = _reply(inbound, agent)
    outbox = OutboxEntry.objects.get(message=reply)
    assert (outbox.state, outbox.attempts) == (OutboxEntry.State.PENDING, 1)
    assert "Twilio unreachable" in outbox.last_error
    assert reply.status == Message.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_gives_up_after_max_attempts(inbound, agent, twilio_server, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    twilio_server.script(*[ScriptedResponse(500, b'{"code": 20500, "message": "boom", "status": 500}')] * 3)
    reply = _reply(inbound, agent)
    results = []
    for _ in range(3):
        _make_due(reply)
        results.append(outbox_deliver(message_id=reply.pk))
    # A 500 may come after Twilio created the message: the third one is given up on only after
    # Twilio's list shows it never got it, and nothing is sent a fourth time.
    assert results == ["retry", "retry", "failed"]
    assert len(twilio_server.message_posts()) == 3
    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == (Message.Status.FAILED, "gave_up")
    assert reply.error_message == "Sending failed repeatedly; gave up."
    outbox = OutboxEntry.objects.get(message=reply)
    assert (outbox.state, outbox.attempts) == (OutboxEntry.State.FAILED, 4)
    assert len(twilio_server.message_posts()) == 3
    _make_due(reply)
    assert outbox_deliver(message_id=reply.pk) == "skipped"
    assert len(twilio_server.message_posts()) == 3
    assert Identity.objects.get().opted_out is False


@pytest.mark.django_db(transaction=True)
def test_a_leased_entry_is_left_to_its_worker(inbound, agent, twilio_server, django_capture_on_commit_callbacks):
    twilio_server.script(ScriptedResponse(500, b"{}"))
    reply = _reply(inbound, agent)
    _make_due(reply)
    OutboxEntry.objects.filter(message=reply).update(lease_until=timezone.now() + dt.timedelta(minutes=1))
    assert outbox_deliver(message_id=reply.pk) == "skipped"
    assert len(twilio_server.message_posts()) == 1
