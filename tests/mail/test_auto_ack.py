"""Auto-acknowledgement: only for a person's new conversation, marked as automatic, at most one
per conversation (and per address) within an hour by constraint; loops between autoresponders
stop."""

from __future__ import annotations

import email.utils

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from apps.conversations.models import Conversation, Message
from apps.mail.models import AutoAckClaim, EmailInboxSettings, EmailMessage
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, compose, new_message_id

pytestmark = pytest.mark.django_db

ROBOT = "robot@autoresponder.example"


@pytest.fixture
def acking(email_inbox):
    EmailInboxSettings.objects.filter(inbox=email_inbox).update(
        auto_ack_enabled=True, auto_ack_subject="We got your message", auto_ack_text="Thanks, we will answer soon."
    )
    return email_inbox


def acks() -> list[Message]:
    return list(Message.objects.filter(meta__email__auto_ack=True).order_by("id"))


def test_new_conversation_from_a_person_gets_one_acknowledgement_marked_automatic(acking, receive, smtp):
    customer = receive(compose(subject="Router problem"))

    [ack] = acks()
    assert ack.conversation_id == customer.conversation_id
    assert (ack.direction, ack.kind, ack.channel, ack.status) == ("out", "message", "email", Message.Status.SENT)
    assert ack.sender_id is None
    assert ack.body == "Thanks, we will answer soon."
    assert ack.seq == customer.seq + 1
    [captured] = smtp.wait_for(1)
    mail = captured.message
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Subject"] == f"We got your message [#{customer.conversation_id}]"
    assert mail["In-Reply-To"] == f"<{EmailMessage.objects.get(message=customer).rfc_id}>"
    assert mail["To"] == JANE
    conversation = Conversation.objects.get(pk=customer.conversation_id)
    assert conversation.waiting_since is not None  # an acknowledgement is not an answer
    assert conversation.last_message["body"] == "My router is down."


def test_reply_in_an_existing_conversation_is_not_acknowledged(acking, receive, smtp):
    first = receive(compose())
    receive(compose(subject=f"Re: Router problem [#{first.conversation_id}]"))

    assert len(acks()) == 1
    assert len(smtp.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("sender", "headers", "mail_from"),
    [
        (JANE, {"Auto-Submitted": "auto-replied"}, JANE),
        (JANE, {"X-Autoreply": "yes"}, JANE),
        (JANE, {"Precedence": "bulk"}, JANE),
        (JANE, {"X-Auto-Response-Suppress": "All"}, JANE),
        ("news@lists.example", {"List-Id": "<news.lists.example>"}, "news@lists.example"),
        (JANE, {}, ""),  # null envelope sender
        ("no-reply@shop.example", {}, "no-reply@shop.example"),
        ("MAILER-DAEMON@mx.example", {}, "MAILER-DAEMON@mx.example"),
    ],
    ids=[
        "auto-submitted",
        "x-autoreply",
        "precedence",
        "x-auto-response-suppress",
        "list",
        "null-sender",
        "no-reply",
        "daemon",
    ],
)
def test_automatic_mail_and_unanswerable_senders_get_no_acknowledgement(
    acking, receive, smtp, sender, headers, mail_from
):
    message = receive(compose(sender=sender, headers=headers), mail_from=mail_from)

    assert message.conversation.messages.count() == 1
    assert acks() == []
    assert AutoAckClaim.objects.count() == 0
    assert smtp.mails == []


def test_disabled_inbox_sends_no_acknowledgement(email_inbox, receive, smtp):
    receive(compose())

    assert acks() == []
    assert smtp.mails == []


def _answer_like_an_autoresponder(captured, *, headers_kind: str) -> bytes:
    """What an autoresponder sends back to a mail it got."""
    mail = captured.message
    reply_to = email.utils.parseaddr(mail["Reply-To"] or mail["From"])[1]
    subject = f"Out of office: {mail['Subject']}"
    if headers_kind == "rfc3834":
        return compose(
            sender=ROBOT,
            to=reply_to,
            subject=subject,
            in_reply_to=mail["Message-ID"].strip("<>"),
            headers={"Auto-Submitted": "auto-replied"},
        )
    if headers_kind == "threaded":  # no automatic headers, but In-Reply-To
        return compose(sender=ROBOT, to=reply_to, subject=subject, in_reply_to=mail["Message-ID"].strip("<>"))
    # "bare": no automatic headers, no threading headers, a new subject, to the From address
    return compose(sender=ROBOT, to=INBOX_ADDRESS, subject=f"Automatic reply {new_message_id()[:8]}")


@pytest.mark.parametrize("headers_kind", ["rfc3834", "threaded", "bare"])
def test_loop_with_an_autoresponder_stops_after_one_acknowledgement(acking, deliver, smtp, headers_kind):
    # The robot writes first; every mail we send it gets an automatic answer, which we receive.
    deliver(compose(sender=ROBOT, subject="Hello"), mail_from=ROBOT)
    handled = 0
    for _ in range(6):
        mails = smtp.mails
        if handled == len(mails):
            break
        for captured in mails[handled:]:
            rcpt = (
                [email.utils.parseaddr(captured.message["Reply-To"])[1]] if headers_kind != "bare" else [INBOX_ADDRESS]
            )
            deliver(_answer_like_an_autoresponder(captured, headers_kind=headers_kind), rcpt_tos=rcpt, mail_from=ROBOT)
        handled = len(mails)

    assert len(smtp.mails) == 1  # our one acknowledgement; the robot's answer to it got none
    assert len(acks()) == 1
    robot_messages = Message.objects.filter(direction="in", identity__address=ROBOT)
    assert robot_messages.count() == 2
    if headers_kind == "bare":
        # Its answer looked like a person's new conversation: only the per-hour limit held it back.
        assert Conversation.objects.count() == 2
    else:
        assert Conversation.objects.count() == 1


def test_the_constraint_refuses_a_second_claim_within_the_hour(acking, receive, smtp):
    first = receive(compose(sender=JANE, subject="One"))
    [claim] = AutoAckClaim.objects.filter(scope=f"conversation:{first.conversation_id}").order_by("hour")[:1]

    with pytest.raises(IntegrityError), transaction.atomic():
        AutoAckClaim.objects.create(scope=claim.scope, hour=claim.hour + 1)

    # Jane opening another conversation within the hour gets no second acknowledgement...
    receive(compose(sender=JANE, subject="Two"))
    assert len(acks()) == 1
    # ...and once the hour (and the next clock hour) have passed, she does again.
    AutoAckClaim.objects.update(hour=F("hour") - 2)
    receive(compose(sender=JANE, subject="Three"))
    assert len(acks()) == 2
    assert len(smtp.wait_for(2)) == 2


def test_reply_address_domain_is_the_inbound_domain(acking, receive, smtp):
    customer = receive(compose())
    mail = smtp.wait_for(1)[0].message
    assert mail["Reply-To"] == f"reply+{customer.conversation.email_thread.reply_token}@{DOMAIN}"
