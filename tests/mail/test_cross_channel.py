"""An agent replies by email to a customer whose conversation started on SMS: the thread stays
one timeline."""

from __future__ import annotations

import pytest

from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.mail.models import EmailThread
from tests.factories import IdentityFactory
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, compose

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms_with_email(receive_sms) -> tuple[Message, Identity]:
    sms = receive_sms(Body="Can you email me the invoice?")
    email = IdentityFactory(contact=sms.conversation.contact, kind=Identity.Kind.EMAIL, address=JANE, verified=False)
    return sms, email


def test_reply_by_email_from_an_sms_conversation_and_the_answer_lands_in_the_same_conversation(
    sms_with_email, email_inbox, agent, smtp, receive, django_capture_on_commit_callbacks, client
):
    sms, email = sms_with_email
    conversation = sms.conversation

    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(
            conversation_id=conversation.pk, agent=agent, body="Here it is.", client_id="e1", identity_id=email.pk
        )
    reply.refresh_from_db()

    assert (reply.channel, reply.status, reply.inbox_id) == ("email", Message.Status.SENT, conversation.inbox_id)
    [captured] = smtp.wait_for(1)
    mail = captured.message
    thread = EmailThread.objects.get(conversation=conversation)
    assert thread.send_inbox_id == email_inbox.pk
    assert mail["From"] == f"Acme Support <{INBOX_ADDRESS}>"
    assert mail["To"] == JANE
    assert mail["Reply-To"] == f"reply+{thread.reply_token}@{DOMAIN}"
    assert mail["Subject"] == f"Your conversation with Acme Support [#{conversation.pk}]"

    answer_to = f"reply+{thread.reply_token}@{DOMAIN}"
    answer = receive(
        compose(
            to=answer_to, subject=f"Re: {mail['Subject']}", in_reply_to=mail["Message-ID"].strip("<>"), body="Thanks!"
        ),
        rcpt_tos=[answer_to],
    )

    assert answer.conversation_id == conversation.pk
    assert (answer.inbox_id, answer.channel, answer.identity_id) == (conversation.inbox_id, "email", email.pk)
    email.refresh_from_db()
    assert email.verified  # it answered through the reply address we mailed it
    agent.inboxes.add(conversation.inbox)
    client.force_login(agent)
    timeline = client.get(f"/api/v1/contacts/{conversation.contact_id}/timeline").json()["results"]
    assert [(m["conversation"], m["channel"], m["direction"], m["body"]) for m in timeline] == [
        (conversation.pk, "phone", "in", "Can you email me the invoice?"),
        (conversation.pk, "email", "out", "Here it is."),
        (conversation.pk, "email", "in", "Thanks!"),
    ]


def test_the_answer_by_in_reply_to_alone_also_finds_the_sms_conversation(
    sms_with_email, email_inbox, agent, smtp, receive, django_capture_on_commit_callbacks
):
    sms, email = sms_with_email
    with django_capture_on_commit_callbacks(execute=True):
        message_send(
            conversation_id=sms.conversation_id, agent=agent, body="Here.", client_id="e1", identity_id=email.pk
        )
    sent = smtp.wait_for(1)[0].message

    answer = receive(compose(subject="Re: invoice", in_reply_to=sent["Message-ID"].strip("<>")))

    assert answer.conversation_id == sms.conversation_id


def test_reply_by_email_without_any_email_inbox_fails_in_words(
    sms_with_email, agent, smtp, django_capture_on_commit_callbacks
):
    sms, email = sms_with_email

    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(
            conversation_id=sms.conversation_id, agent=agent, body="Hi", client_id="e1", identity_id=email.pk
        )
    reply.refresh_from_db()

    assert reply.status == Message.Status.FAILED
    assert reply.error_code == "no_email_inbox"
    assert reply.error_message == "No email inbox is set up to send from: add one (admin → Inboxes, channel Email)."
    assert smtp.mails == []
