"""Replies out through the Bot API (the local server): text, photos, documents, 429 retry_after,
a blocked bot, and what the console is told."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.conversations.services.send import FileUpload
from tests.fakes.telegram_server import error
from tests.telegram.conftest import CHAT_ID, update

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def inbound(post_update, tg_bot, tg_agent, telegram_server):
    u = update()
    post_update(u)
    return Message.objects.get(provider_id=f"{CHAT_ID}:{u['message']['message_id']}")


def _reply(inbound: Message, agent, body: str = "We are on it", files=()) -> Message:
    message, created = message_send(
        conversation_id=inbound.conversation_id, agent=agent, body=body, attachments=list(files)
    )
    assert created
    message.refresh_from_db()
    return message


def test_a_text_reply_is_sent_with_sendmessage_and_is_delivered(inbound, tg_agent, telegram_server):
    reply = _reply(inbound, tg_agent)
    [call] = telegram_server.calls_of("sendMessage")
    assert call.params == {"chat_id": str(CHAT_ID), "text": "We are on it"}
    [sent] = telegram_server.sent[call.token]
    assert reply.provider_id == f"{CHAT_ID}:{sent['message_id']}"
    assert reply.status == Message.Status.DELIVERED  # no receipts for bots: taken = in the chat
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.DONE


def test_a_long_reply_is_split_at_telegrams_4096_characters(inbound, tg_agent, telegram_server):
    _reply(inbound, tg_agent, body="x" * 5000)
    assert [len(c.params["text"]) for c in telegram_server.calls_of("sendMessage")] == [4096, 904]


def test_an_image_goes_as_a_photo_with_the_text_as_caption(inbound, tg_agent, telegram_server):
    reply = _reply(inbound, tg_agent, body="here is the label", files=[FileUpload("label.png", "image/png", PNG)])
    [call] = telegram_server.calls_of("sendPhoto")
    assert call.params == {"chat_id": str(CHAT_ID), "caption": "here is the label"}
    assert call.files["photo"].data == PNG
    assert call.files["photo"].filename == "label.png"
    assert call.content_type.startswith("multipart/form-data")
    assert telegram_server.calls_of("sendMessage") == []
    assert reply.status == Message.Status.DELIVERED


def test_other_files_go_as_documents(inbound, tg_agent, telegram_server):
    pdf = b"%PDF-1.4 the invoice"
    _reply(inbound, tg_agent, body="", files=[FileUpload("invoice.pdf", "application/pdf", pdf)])
    [call] = telegram_server.calls_of("sendDocument")
    assert call.params == {"chat_id": str(CHAT_ID)}
    assert (call.files["document"].filename, call.files["document"].data) == ("invoice.pdf", pdf)


def test_429_waits_at_least_retry_after_then_sends(inbound, tg_agent, telegram_server):
    telegram_server.script("sendMessage", error(429, "Too Many Requests: retry after 37", retry_after=37))
    before = timezone.now()
    reply = _reply(inbound, tg_agent)
    assert reply.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.state == OutboxEntry.State.PENDING
    # The backoff after a first attempt is 2 s; Telegram asked for 37.
    assert entry.next_attempt_at >= before + dt.timedelta(seconds=37)
    assert entry.next_attempt_at <= timezone.now() + dt.timedelta(seconds=38)
    assert "retry after 37" in entry.last_error
    assert outbox_deliver(message_id=reply.pk) == "skipped"  # not due yet
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    assert len(telegram_server.calls_of("sendMessage")) == 2


def test_a_blocked_bot_is_a_permanent_failure_shown_on_the_message(inbound, tg_agent, telegram_server):
    telegram_server.script("sendMessage", error(403, "Forbidden: bot was blocked by the user"))
    reply = _reply(inbound, tg_agent)
    assert reply.status == Message.Status.FAILED
    assert reply.error_code == "telegram_blocked"
    assert reply.error_message == "The customer blocked the bot on Telegram (Forbidden: bot was blocked by the user)."
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.state == OutboxEntry.State.FAILED
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=reply.pk) == "skipped"  # never retried
    assert len(telegram_server.calls_of("sendMessage")) == 1


def test_a_bad_request_is_permanent(inbound, tg_agent, telegram_server):
    telegram_server.script("sendMessage", error(400, "Bad Request: chat not found"))
    reply = _reply(inbound, tg_agent)
    assert (reply.status, reply.error_code) == (Message.Status.FAILED, "telegram_bad_request")
    assert "chat not found" in reply.error_message


def test_a_revoked_token_keeps_the_reply_queued(inbound, tg_agent, telegram_server):
    telegram_server.bots.clear()  # the token no longer works: 401
    reply = _reply(inbound, tg_agent)
    assert reply.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=reply)
    assert entry.state == OutboxEntry.State.PENDING and "401" in entry.last_error


def test_an_unreachable_api_is_retried(inbound, tg_agent, telegram_server, settings):
    from tests.servers import free_port

    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    reply = _reply(inbound, tg_agent)
    entry = OutboxEntry.objects.get(message=reply)
    assert (reply.status, entry.state) == (Message.Status.QUEUED, OutboxEntry.State.PENDING)
    assert entry.attempt_started_at is None  # the request never left: not in doubt


def test_a_lost_answer_is_sent_again_telegram_cannot_be_asked(inbound, tg_agent, telegram_server, settings):
    """The documented choice (docs/telegram.md): at least once. The first sendMessage was taken
    but its answer came too late; the retry sends it again."""
    settings.TELEGRAM_SEND_TIMEOUT = 0.3
    telegram_server.delays["sendMessage"] = 1.5
    reply = _reply(inbound, tg_agent)
    entry = OutboxEntry.objects.get(message=reply)
    assert reply.status == Message.Status.QUEUED
    assert entry.attempt_started_at is not None  # in doubt: it may have arrived
    assert len(telegram_server.sent[telegram_server.calls[-1].token]) == 1
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    assert len(telegram_server.calls_of("sendMessage")) == 2
