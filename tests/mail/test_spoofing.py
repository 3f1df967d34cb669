"""A mail joins an existing conversation only when its From is an identity of that
conversation's contact (or the reply token proves it); a spoofed From or Reply-To never lands
in another customer's conversation."""

from __future__ import annotations

import pytest

from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.mail.models import EmailMessage, EmailThread
from tests.mail.support import DOMAIN, JANE, MALLORY, compose, new_message_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def janes(email_inbox, receive) -> Message:
    return receive(compose(message_id=new_message_id(), subject="Router problem"))


def assert_kept_apart(message: Message, janes: Message) -> None:
    assert message.conversation_id != janes.conversation_id
    assert message.conversation.contact_id != janes.conversation.contact_id
    assert message.identity.address == MALLORY
    assert Message.objects.filter(conversation=janes.conversation).count() == 1
    thread = EmailThread.objects.get(conversation=message.conversation)
    assert f"points at conversation #{janes.conversation_id}" in thread.suspicious_reason
    assert message.meta["email"]["suspicious"] == thread.suspicious_reason
    assert EmailMessage.objects.get(message=message).suspicious_reason == thread.suspicious_reason


def test_spoofed_from_with_janes_in_reply_to_opens_a_new_suspicious_conversation(janes, receive):
    jane_id = EmailMessage.objects.get(message=janes).rfc_id

    message = receive(
        compose(
            sender=f"Jane Doe <{MALLORY}>", subject="Re: Router problem", in_reply_to=jane_id, references=[jane_id]
        ),
        mail_from=MALLORY,
    )

    assert_kept_apart(message, janes)
    assert "In-Reply-To/References" in message.meta["email"]["suspicious"]
    assert message.conversation.contact.name == ""  # "Jane Doe" was the impostor's claim


def test_spoofed_from_with_janes_subject_token_opens_a_new_suspicious_conversation(janes, receive):
    message = receive(
        compose(sender=MALLORY, subject=f"Re: Router problem [#{janes.conversation_id}]"), mail_from=MALLORY
    )

    assert_kept_apart(message, janes)
    assert "[#id] in its subject" in message.meta["email"]["suspicious"]


def test_reply_to_of_janes_address_does_not_make_mallory_jane(janes, receive):
    message = receive(
        compose(sender=MALLORY, reply_to=JANE, subject=f"Re: Router problem [#{janes.conversation_id}]"),
        mail_from=MALLORY,
    )

    assert_kept_apart(message, janes)
    assert not Identity.objects.filter(address=JANE).exclude(contact=janes.conversation.contact).exists()


def test_suspicious_mail_gets_no_auto_acknowledgement(janes, receive, smtp):
    from apps.mail.models import EmailInboxSettings

    EmailInboxSettings.objects.filter(inbox=janes.inbox).update(auto_ack_enabled=True)

    message = receive(compose(sender=MALLORY, subject=f"Re: [#{janes.conversation_id}]"), mail_from=MALLORY)

    assert "suspicious" in message.meta["email"]
    assert Message.objects.filter(conversation=message.conversation).count() == 1
    assert smtp.mails == []


def test_janes_reply_with_a_foreign_reply_to_joins_but_is_flagged_and_replies_go_to_jane(janes, receive):
    jane_id = EmailMessage.objects.get(message=janes).rfc_id

    message = receive(compose(reply_to=MALLORY, in_reply_to=jane_id, subject="Re: Router problem"))

    assert message.conversation_id == janes.conversation_id
    assert message.meta["email"]["suspicious"] == (
        f"Reply-To asks for answers at {MALLORY}, which is not an address of this customer. Replies go to {JANE} only."
    )
    conversation = Conversation.objects.get(pk=janes.conversation_id)
    assert conversation.last_identity.address == JANE
    assert not EmailThread.objects.get(conversation=conversation).suspicious_reason


def test_a_colleague_writing_through_janes_reply_token_joins_her_conversation(janes, receive):
    token = janes.conversation.email_thread.reply_token
    address = f"reply+{token}@{DOMAIN}"

    message = receive(
        compose(sender="bob@customer.example", to=address), rcpt_tos=[address], mail_from="bob@customer.example"
    )

    assert message.conversation_id == janes.conversation_id
    assert message.identity.address == "bob@customer.example"
    assert message.identity.contact_id != janes.conversation.contact_id
    conversation = Conversation.objects.get(pk=janes.conversation_id)
    assert conversation.contact_id == janes.conversation.contact_id
    assert conversation.last_identity.address == JANE  # replies still go to Jane by default
    assert "suspicious" not in message.meta["email"]
