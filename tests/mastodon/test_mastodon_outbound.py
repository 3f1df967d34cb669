"""Replies out as statuses (the local instance): private (direct) or public (visibility kept),
the mention that makes the customer see them, Idempotency-Key, rate limits, lost answers, media."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.conversations.services.send import FileUpload
from apps.core.errors import InvalidInput
from apps.gateways.base import OutboundMessage
from apps.gateways.mastodon.channel import mastodon_outbound_build
from apps.gateways.mastodon.gateway import MastodonGateway

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _reply(inbound: Message, agent, body: str = "We are on it.", files=(), visibility: str | None = None) -> Message:
    message, created = message_send(
        conversation_id=inbound.conversation_id,
        agent=agent,
        body=body,
        attachments=list(files),
        options={"visibility": visibility} if visibility else None,
    )
    assert created
    message.refresh_from_db()
    return message


@pytest.fixture
def dm(mastodon_server, md_account, md_agent, take) -> Message:
    mastodon_server.post_mention("@support my order #123?", visibility="direct")
    [message] = take()
    return message


@pytest.fixture
def public_mention(mastodon_server, md_account, md_agent, take) -> Message:
    mastodon_server.post_mention("@support is the shop down?", visibility="unlisted")
    [message] = take()
    return message


def test_a_private_reply_is_a_direct_status_with_the_mention_and_an_idempotency_key(dm, md_agent, mastodon_server):
    reply = _reply(dm, md_agent)
    [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert call.params == {
        "status": ["@jane@example.social We are on it."],
        "visibility": ["direct"],
        "in_reply_to_id": [dm.provider_id],
    }
    assert call.headers["idempotency-key"] == f"supportdesk-message-{reply.pk}"
    assert call.headers["authorization"] == "Bearer desk-token-0123456789"
    assert reply.body == "@jane@example.social We are on it."  # the timeline shows what was sent
    assert reply.meta["mastodon"] == {"visibility": "direct", "audience": "private", "in_reply_to_id": dm.provider_id}
    assert reply.status == Message.Status.DELIVERED
    assert reply.provider_id in mastodon_server.statuses


def test_a_public_reply_keeps_the_posts_visibility(public_mention, md_agent, mastodon_server):
    reply = _reply(public_mention, md_agent, visibility="public")
    [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert call.params["visibility"] == ["unlisted"]
    assert call.params["in_reply_to_id"] == [public_mention.provider_id]
    assert reply.meta["mastodon"]["audience"] == "public"


def test_an_agent_may_answer_a_public_mention_privately(public_mention, md_agent, mastodon_server):
    _reply(public_mention, md_agent, visibility="private")
    [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert call.params["visibility"] == ["direct"]


def test_a_public_reply_to_a_direct_message_is_refused_and_nothing_is_queued(dm, md_agent, mastodon_server):
    with pytest.raises(InvalidInput) as refused:
        message_send(conversation_id=dm.conversation_id, agent=md_agent, body="hi", options={"visibility": "public"})
    assert refused.value.code == "public_reply_to_private"
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 0
    assert OutboxEntry.objects.count() == 0
    assert mastodon_server.calls_to("POST", "/api/v1/statuses") == []


def test_a_reply_longer_than_the_instance_takes_is_refused(dm, md_agent, md_account):
    md_account.max_characters = 30
    md_account.save()
    with pytest.raises(InvalidInput) as refused:
        message_send(conversation_id=dm.conversation_id, agent=md_agent, body="x" * 20)
    assert refused.value.code == "too_long"


def test_429_waits_until_the_rate_limit_resets(dm, md_agent, mastodon_server):
    reset = timezone.now() + dt.timedelta(seconds=120)
    mastodon_server.script(
        "/api/v1/statuses",
        429,
        {"error": "Too many requests"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()},
    )
    reply = _reply(dm, md_agent)
    assert reply.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.state == OutboxEntry.State.PENDING
    assert entry.next_attempt_at >= reset - dt.timedelta(seconds=2)
    # Nothing is spent on the instance before the reset: the account remembers the limit.
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=reply.pk) == "retry"
    assert len(mastodon_server.calls_to("POST", "/api/v1/statuses")) == 1


def test_a_lost_answer_is_sent_again_with_the_same_key_and_makes_one_status(dm, md_agent, mastodon_server, settings):
    settings.MASTODON_SEND_TIMEOUT = 0.3
    mastodon_server.delays["/api/v1/statuses"] = 1.0  # the instance posts it, the answer is lost
    reply = _reply(dm, md_agent)
    assert reply.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.attempt_started_at is not None  # in doubt: the next try asks first
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=reply.pk) == "sent"
    calls = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert len(calls) == 2
    assert {c.headers["idempotency-key"] for c in calls} == {f"supportdesk-message-{reply.pk}"}
    assert len(mastodon_server.statuses) == 1  # the instance kept its first status
    reply.refresh_from_db()
    assert reply.provider_id == next(iter(mastodon_server.statuses))
    assert reply.status == Message.Status.DELIVERED


def test_after_the_keys_hour_a_lost_send_is_looked_up_on_the_account(dm, md_agent, mastodon_server):
    reply = _reply(dm, md_agent)
    outbound = mastodon_outbound_build(
        message=reply,
        outbound=OutboundMessage(message_id=reply.pk, channel="mastodon", to="", sender="", body=reply.body),
    )
    gateway = MastodonGateway()
    found = gateway.confirm(outbound, attempted_at=timezone.now() - dt.timedelta(minutes=55))
    assert found is not None and found.provider_message_id == reply.provider_id
    other = OutboundMessage(
        message_id=reply.pk, channel="mastodon", to="", sender="", body="never sent", options=outbound.options
    )
    assert gateway.confirm(other, attempted_at=timezone.now() - dt.timedelta(minutes=55)) is None
    # Within the hour, sending again with the same key is the check (None: send again).
    assert gateway.confirm(outbound, attempted_at=timezone.now() - dt.timedelta(minutes=5)) is None


def test_an_image_is_uploaded_and_attached_to_the_status(dm, md_agent, mastodon_server):
    reply = _reply(dm, md_agent, body="the label", files=[FileUpload("label.png", "image/png", PNG)])
    [upload] = mastodon_server.calls_to("POST", "/api/v2/media")
    assert upload.files["file"] == ("label.png", "image/png", PNG)
    [status] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    [media_id] = status.params["media_ids[]"]
    assert mastodon_server.media[media_id]["data"] == PNG
    assert reply.status == Message.Status.DELIVERED


def test_a_refused_status_is_a_permanent_failure(dm, md_agent, mastodon_server):
    mastodon_server.script("/api/v1/statuses", 422, {"error": "Validation failed: Text can't be blank"})
    reply = _reply(dm, md_agent)
    assert (reply.status, reply.error_code) == (Message.Status.FAILED, "mastodon_rejected")
    assert "can't be blank" in reply.error_message


def test_a_revoked_token_keeps_the_reply_queued(dm, md_agent, mastodon_server):
    mastodon_server.tokens.clear()
    reply = _reply(dm, md_agent)
    assert reply.status == Message.Status.QUEUED
    assert "401" in OutboxEntry.objects.get(message=reply).last_error


def test_the_api_takes_the_visibility_choice(public_mention, md_agent, mastodon_server, client):
    client.force_login(md_agent)
    response = client.post(
        f"/api/v1/conversations/{public_mention.conversation_id}/messages",
        {"body": "Looking into it", "client_id": "c-1", "visibility": "private"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["body"] == "@jane@example.social Looking into it"
    [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert call.params["visibility"] == ["direct"]
    response = client.post(
        f"/api/v1/conversations/{public_mention.conversation_id}/messages",
        {"body": "x", "client_id": "c-2", "visibility": "everyone"},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_a_reply_in_an_older_thread_answers_that_threads_post(mastodon_server, md_account, md_agent, take):
    from apps.conversations.models import Conversation

    mastodon_server.post_mention("@support first question", visibility="public")
    [first] = take()
    Conversation.objects.filter(pk=first.conversation_id).update(status=Conversation.Status.RESOLVED)
    mastodon_server.post_mention("@support another topic", visibility="direct")  # a new conversation
    [second] = take()
    assert second.conversation_id != first.conversation_id
    reply = _reply(first, md_agent, body="About your first question", visibility="public")
    [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
    assert call.params["in_reply_to_id"] == [first.provider_id]
    assert call.params["visibility"] == ["public"]
    assert reply.meta["mastodon"]["in_reply_to_id"] == first.provider_id


def test_the_composer_is_told_what_a_reply_can_be(dm, public_mention, md_agent, client):
    client.force_login(md_agent)
    answer = client.get(f"/api/v1/conversations/{dm.conversation_id}/mastodon-reply").json()
    # Both posts are in one open conversation; the newest (the public one) is what a reply answers.
    assert answer == {
        "mastodon": True,
        "default": "public",
        "mention": "@jane@example.social",
        "public_allowed": True,
        "public_refusal": "",
        "public_visibility": "unlisted",
        "post_url": public_mention.meta["mastodon"]["url"],
        "post_visibility": "unlisted",
        "max_characters": 500,
    }


def test_the_composer_is_told_a_direct_message_cannot_be_answered_publicly(dm, md_agent, client):
    client.force_login(md_agent)
    answer = client.get(f"/api/v1/conversations/{dm.conversation_id}/mastodon-reply").json()
    assert (answer["default"], answer["public_allowed"]) == ("private", False)
    assert "wrote privately" in answer["public_refusal"]


def test_the_composer_is_told_when_a_reply_is_not_on_mastodon(md_agent, client, db):
    from tests.factories import ConversationFactory

    conversation = ConversationFactory()
    conversation.inbox.members.add(md_agent)
    client.force_login(md_agent)
    assert client.get(f"/api/v1/conversations/{conversation.pk}/mastodon-reply").json() == {"mastodon": False}
