"""The whole email loop over real SMTP, without a browser: a customer's mail through the SMTP
listener (smtplib -> aiosmtpd intake -> journal -> parser -> router), the acknowledgement and the
agent's reply out through EMAIL_URL to a real SMTP server, the customer's answer to the reply
address back into the same conversation, and their autoresponder's answer kept quiet."""

from __future__ import annotations

import email.utils
import smtplib
import time

import pytest

from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.gateways.email.smtp import ListenerThread
from apps.mail.models import EmailInboxSettings
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, compose
from tests.servers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(settings):
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    thread = ListenerThread(host="127.0.0.1", port=0, domain=DOMAIN).start()
    yield thread
    thread.stop()


def send(listener, raw: bytes, rcpt: str = INBOX_ADDRESS, mail_from: str = JANE) -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], raw)


def test_mail_in_ack_reply_out_answer_back_and_autoresponder_quiet(listener, email_inbox, agent, smtp):
    EmailInboxSettings.objects.filter(inbox=email_inbox).update(auto_ack_enabled=True, auto_ack_subject="We got it")

    send(listener, compose(subject="Router problem", body="My router is down."))
    customer = wait_for(lambda: Message.objects.filter(direction="in").first(), what="the customer's mail")
    conversation = customer.conversation
    [ack] = smtp.wait_for(1)
    assert ack.message["Auto-Submitted"] == "auto-replied"
    assert ack.rcpt_tos == [JANE]

    message_send(conversation_id=conversation.pk, agent=agent, body="Please restart it.", client_id="r1")
    reply = smtp.wait_for(2)[1].message
    assert reply["Subject"] == f"Re: Router problem [#{conversation.pk}]"
    reply_to = email.utils.parseaddr(reply["Reply-To"])[1]
    assert reply_to == f"reply+{conversation.email_thread.reply_token}@{DOMAIN}"

    # The customer answers from their client: to the Reply-To, threading headers carried on.
    reply_id = reply["Message-ID"].strip("<>")
    send(
        listener,
        compose(subject=f"Re: {reply['Subject']}", body="Done, it works!", to=reply_to, in_reply_to=reply_id),
        rcpt=reply_to,
    )
    answer = wait_for(lambda: Message.objects.filter(body="Done, it works!").first(), what="the answer")
    assert answer.conversation_id == conversation.pk
    assert Identity.objects.get(kind="email", address=JANE).verified

    # Resolved; then the customer's autoresponder answers our reply: stored, quiet, still resolved.
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    send(
        listener,
        compose(
            subject=f"Auto: {reply['Subject']}",
            body="I am on holiday.",
            to=reply_to,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        rcpt=reply_to,
    )
    holiday = wait_for(lambda: Message.objects.filter(body="I am on holiday.").first(), what="the autoresponder's mail")
    assert holiday.conversation_id == conversation.pk
    assert Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.RESOLVED
    time.sleep(0.3)
    assert len(smtp.mails) == 2  # the acknowledgement and the agent's reply, nothing more
