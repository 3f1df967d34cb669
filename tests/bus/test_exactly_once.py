"""Exactly once to the provider: a reply is never sent twice, whatever dies when (issue 9).

The attempt is recorded when the entry is claimed, before the provider is called. When the
answer is lost (the connection dropped after Twilio took the message, a 5xx, a worker that died
mid-send), the next try asks first: a status callback that carried our message id, else
Twilio's Messages list. Against the local Twilio-compatible server (tests/fakes/twilio_server.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus import registry
from apps.bus.models import OutboxEntry, StatusReceipt
from apps.bus.services import outbox_deliver
from apps.bus.services.outbox import outbox_claim, outbox_renew_leases
from apps.conversations.models import Message
from apps.conversations.services import message_send
from tests.conftest import twilio_sign
from tests.fakes.twilio_server import ScriptedResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(receive_sms, agent, twilio_server, django_capture_on_commit_callbacks):
    """A reply queued in the outbox, not sent yet (its after-commit send held back)."""

    def make(body: str = "On it") -> Message:
        inbound = receive_sms()
        with django_capture_on_commit_callbacks(execute=False):
            reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body=body)
        return reply

    return make


def _lapse(reply: Message, seconds: float = 1) -> None:
    """The lease and any backoff are over (the worker that held it is gone)."""
    past = timezone.now() - dt.timedelta(seconds=seconds)
    OutboxEntry.objects.filter(message=reply).update(lease_until=past, next_attempt_at=past)


def test_a_lost_answer_is_checked_with_twilio_and_the_reply_is_not_sent_again(queued, twilio_server):
    reply = queued()
    twilio_server.drop_answers(1)  # Twilio takes the message, the answer never comes back

    assert outbox_deliver(message_id=reply.pk) == "retry"
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.attempt_started_at is not None  # the outcome is unknown: kept for the check
    assert len(twilio_server.message_posts()) == 1
    [created] = twilio_server.messages.values()

    _lapse(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"

    assert len(twilio_server.message_posts()) == 1  # asked, not sent again
    lists = [r for r in twilio_server.gets() if r.path.endswith("/Messages.json")]
    assert len(lists) == 1
    reply.refresh_from_db()
    assert (reply.provider_id, reply.status) == (created["sid"], Message.Status.QUEUED)
    entry.refresh_from_db()
    assert (entry.state, entry.attempt_started_at, entry.provider_checks) == (OutboxEntry.State.DONE, None, 1)


def test_a_worker_that_died_after_twilio_took_the_reply_does_not_cause_a_second_send(queued, twilio_server):
    from apps.gateways.base import OutboundMessage
    from apps.gateways.twilio.gateway import TwilioGateway

    reply = queued("Your refund is on its way")
    [(message_id, in_doubt)] = outbox_claim(limit=10)
    assert (message_id, in_doubt) == (reply.pk, None)
    # The worker calls Twilio, Twilio creates the message, and the worker is killed before it
    # records anything.
    TwilioGateway().send(
        OutboundMessage(
            message_id=reply.pk,
            channel="phone",
            to=reply.identity.address,
            sender=reply.inbox.address,
            body=reply.body,
        )
    )
    _lapse(reply)

    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert len(twilio_server.message_posts()) == 1
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages


def test_a_worker_that_died_before_calling_twilio_is_followed_by_exactly_one_send(queued, twilio_server):
    reply = queued()
    outbox_claim(limit=10)  # claimed (the attempt recorded), then the worker died
    _lapse(reply)

    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert len(twilio_server.message_posts()) == 1  # Twilio had nothing: sent once, now
    entry = OutboxEntry.objects.get(message=reply)
    assert (entry.state, entry.provider_checks, entry.attempts) == (OutboxEntry.State.DONE, 1, 2)


def test_a_status_callback_with_our_message_id_settles_a_send_whose_answer_was_lost(
    queued, twilio_server, client, settings
):
    reply = queued()
    twilio_server.drop_answers(1)
    assert outbox_deliver(message_id=reply.pk) == "retry"
    [created] = twilio_server.messages.values()
    post = twilio_server.message_posts()[0]
    callback_url = post.form["StatusCallback"][0]
    assert callback_url == f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status?m={reply.pk}"

    params = twilio_server.status_callback_params(created["sid"], "delivered")
    path = callback_url.removeprefix(settings.PUBLIC_BASE_URL)
    response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=twilio_sign(path, params))
    assert response.status_code == 200
    assert StatusReceipt.objects.get().message_ref == reply.pk

    _lapse(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert [r for r in twilio_server.gets() if r.path.endswith("/Messages.json")] == []  # no need to ask
    assert len(twilio_server.message_posts()) == 1
    reply.refresh_from_db()
    assert (reply.provider_id, reply.status) == (created["sid"], Message.Status.DELIVERED)


def test_a_server_error_is_checked_before_the_reply_is_sent_again(queued, twilio_server):
    reply = queued()
    twilio_server.script(ScriptedResponse(500, b'{"code": 20500, "message": "Internal Server Error"}'))

    assert outbox_deliver(message_id=reply.pk) == "retry"
    _lapse(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"

    assert len(twilio_server.message_posts()) == 2  # the 500 made nothing; the second try did
    assert len(twilio_server.messages) == 1
    assert len([r for r in twilio_server.gets() if r.path.endswith("/Messages.json")]) == 1


def test_a_refusal_twilio_answered_is_retried_without_asking(queued, twilio_server):
    reply = queued()
    twilio_server.script_error(429, 20429, "Too Many Requests")

    assert outbox_deliver(message_id=reply.pk) == "retry"
    assert OutboxEntry.objects.get(message=reply).attempt_started_at is None  # certainly not sent
    _lapse(reply)
    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert [r for r in twilio_server.gets() if r.path.endswith("/Messages.json")] == []
    assert len(twilio_server.messages) == 1


def test_leases_are_renewed_only_by_their_holder(queued):
    reply = queued()
    [(message_id, _)] = outbox_claim(limit=10)
    entry = OutboxEntry.objects.get(message=reply)
    first = entry.lease_until

    assert outbox_renew_leases([message_id]) == 1
    entry.refresh_from_db()
    assert entry.lease_until >= first
    OutboxEntry.objects.filter(pk=entry.pk).update(lease_owner="another-worker")
    assert outbox_renew_leases([message_id]) == 0


def test_a_claimed_entry_is_not_claimed_twice_until_its_lease_lapses(queued):
    reply = queued()
    assert [m for m, _ in outbox_claim(limit=10)] == [reply.pk]
    assert outbox_claim(limit=10) == []
    _lapse(reply)
    [(message_id, in_doubt)] = outbox_claim(limit=10)
    assert message_id == reply.pk and in_doubt is not None  # the first attempt is in doubt


def test_a_provider_that_cannot_tell_yet_keeps_the_send_in_doubt(
    receive_sms, agent, twilio_server, django_capture_on_commit_callbacks
):
    """Any gateway's `confirm` raising TransientSendError ("cannot tell yet"): the attempt stays
    in doubt and the provider is asked again; it is never sent without asking."""
    import datetime as dt

    from django.utils import timezone

    from apps.gateways.base import TransientSendError

    calls: list[str] = []
    answers: list[object] = [TransientSendError("the list is down"), None]

    class Unsure:
        channel = "phone"

        def confirm(self, outbound, *, attempted_at):  # type: ignore[no-untyped-def]
            calls.append("confirm")
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        def send(self, outbound):  # type: ignore[no-untyped-def]
            from apps.gateways.base import SendResult

            calls.append("send")
            return SendResult(provider_message_id="SM-unsure-1", status="queued")

    saved = registry.snapshot()
    registry.register_sender("phone", gateway=Unsure)  # type: ignore[arg-type]
    try:
        inbound = receive_sms()
        with django_capture_on_commit_callbacks(execute=False):
            reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="in doubt")
        past = timezone.now() - dt.timedelta(seconds=5)
        OutboxEntry.objects.filter(message=reply).update(attempt_started_at=past, attempts=1)

        assert outbox_deliver(message_id=reply.pk) == "retry"
        entry = OutboxEntry.objects.get(message=reply)
        assert entry.attempt_started_at == past  # still in doubt
        assert calls == ["confirm"]

        OutboxEntry.objects.filter(message=reply).update(next_attempt_at=timezone.now())
        assert outbox_deliver(message_id=reply.pk) == "sent"
        assert calls == ["confirm", "confirm", "send"]  # asked again first, then sent once
    finally:
        registry.restore(saved)
