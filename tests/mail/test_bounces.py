"""Bounces mark the reply they are about as failed with the diagnostic; they are not customer
messages."""

from __future__ import annotations

import pytest

from apps.bus.models import Event, InboundEntry
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.mail.models import EmailMessage
from tests.mail.support import INBOX_ADDRESS, JANE, compose, dsn

pytestmark = pytest.mark.django_db

DIAGNOSTIC = f"550 5.1.1 <{JANE}>: Recipient address rejected: User unknown"


@pytest.fixture
def sent_reply(email_inbox, agent, receive, smtp, django_capture_on_commit_callbacks) -> Message:
    customer = receive(compose())
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = message_send(
            conversation_id=customer.conversation_id, agent=agent, body="Try this.", client_id="r1"
        )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    return message


def qmail_bounce(original_message_id: str) -> bytes:
    text = f"""From: MAILER-DAEMON@mx.customer.example
To: {INBOX_ADDRESS}
Subject: failure notice
Date: Tue, 04 Mar 2025 10:05:00 +0000

Hi. This is the qmail-send program at mx.customer.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{JANE}>:
192.0.2.7 does not like recipient.
Remote host said: {DIAGNOSTIC}
Giving up on 192.0.2.7.

--- Below this line is a copy of the message.

Return-Path: <{INBOX_ADDRESS}>
From: Acme Support <{INBOX_ADDRESS}>
To: {JANE}
Subject: Re: Router problem
Message-ID: <{original_message_id}>

Try this.
"""
    return text.replace("\n", "\r\n").encode()


def test_dsn_marks_our_reply_failed_with_the_diagnostic_and_is_no_customer_message(sent_reply, deliver):
    ours = EmailMessage.objects.get(message=sent_reply).rfc_id
    messages_before = Message.objects.count()
    last_event = Event.objects.order_by("-id").first().pk

    entry = deliver(dsn(original_message_id=ours), mail_from="")

    assert entry.state == InboundEntry.State.DONE
    assert entry.message_id is None
    assert Message.objects.count() == messages_before
    sent_reply.refresh_from_db()
    assert sent_reply.status == Message.Status.FAILED
    assert sent_reply.error_code == "bounced"
    assert sent_reply.error_message == f"The mail to {JANE} bounced: {DIAGNOSTIC}"
    record = EmailMessage.objects.get(message=sent_reply)
    assert record.bounce_entry_id == entry.pk
    assert record.bounce["recipient"]["status"] == "5.1.1"
    [event] = Event.objects.filter(pk__gt=last_event)
    assert event.type == "message.updated"
    assert (event.data["id"], event.data["status"], event.data["error_message"]) == (
        sent_reply.pk,
        "failed",
        sent_reply.error_message,
    )


def test_non_rfc_bounce_quoting_our_message_id_marks_the_reply_failed(sent_reply, deliver):
    ours = EmailMessage.objects.get(message=sent_reply).rfc_id

    entry = deliver(qmail_bounce(ours), mail_from="")

    assert entry.state == InboundEntry.State.DONE
    sent_reply.refresh_from_db()
    assert sent_reply.status == Message.Status.FAILED
    assert DIAGNOSTIC in sent_reply.error_message


def test_delayed_dsn_changes_nothing(sent_reply, deliver):
    ours = EmailMessage.objects.get(message=sent_reply).rfc_id
    last_event = Event.objects.order_by("-id").first().pk

    entry = deliver(dsn(original_message_id=ours, status="4.4.1", action="delayed"), mail_from="")

    assert entry.state == InboundEntry.State.DONE
    sent_reply.refresh_from_db()
    assert sent_reply.status == Message.Status.SENT
    assert not Event.objects.filter(pk__gt=last_event).exists()


def test_bounce_about_no_mail_of_ours_is_flagged_and_fails_nothing(sent_reply, deliver):
    entry = deliver(dsn(original_message_id="sd-1-1-0000000000000000@support.example"), mail_from="")

    assert entry.state == InboundEntry.State.FLAGGED
    assert entry.flag_reason == "a delivery report about no mail we sent (it quotes none of our Message-IDs)"
    sent_reply.refresh_from_db()
    assert sent_reply.status == Message.Status.SENT


def test_a_second_report_about_the_same_reply_changes_nothing_more(sent_reply, deliver):
    ours = EmailMessage.objects.get(message=sent_reply).rfc_id
    deliver(dsn(original_message_id=ours), mail_from="")
    last_event = Event.objects.order_by("-id").first().pk

    deliver(qmail_bounce(ours), mail_from="")

    assert not Event.objects.filter(pk__gt=last_event).exists()
