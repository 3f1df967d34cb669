"""Threading rules (docs/EMAIL.md §3), each through the real intake, parser and bus:
reply token, In-Reply-To, References only, subject token, none -> a new conversation."""

from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.mail.addresses import anchor_message_id, our_message_id
from apps.mail.models import EmailMessage, EmailMessageId, EmailThread
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, compose, new_message_id
from tests.triage.conftest import NO_RULE_NO_MODEL

pytestmark = pytest.mark.django_db


def first_mail(receive, **kwargs) -> Message:
    return receive(compose(**kwargs))


def test_first_mail_opens_a_conversation_with_an_unverified_lower_cased_email_identity(email_inbox, receive):
    message = first_mail(receive, sender="Jane Doe <Jane@Customer.Example>", subject="Router problem")

    conversation = message.conversation
    assert conversation.inbox_id == email_inbox.pk
    assert conversation.status == Conversation.Status.OPEN
    identity = message.identity
    assert (identity.kind, identity.address, identity.verified) == ("email", JANE, False)
    assert identity.contact.name == "Jane Doe"
    assert message.body == "My router is down."
    assert message.meta == {"email": {"subject": "Router problem", "thread": "new"}, "triage": NO_RULE_NO_MODEL}
    thread = EmailThread.objects.get(conversation=conversation)
    assert thread.subject == "Router problem"
    assert thread.send_inbox_id == email_inbox.pk
    assert len(thread.reply_token) == 32
    record = EmailMessage.objects.get(message=message)
    assert record.subject == "Router problem"
    assert record.from_address == {"address": JANE, "name": "Jane Doe"}
    assert record.to == [{"address": INBOX_ADDRESS, "name": ""}]
    assert record.auto_reasons == []
    assert record.entry_id == InboundEntry.objects.get(message=message).pk
    assert list(EmailMessageId.objects.filter(conversation=conversation).values_list("rfc_id", "direction")) == [
        (record.rfc_id, "in")
    ]


def test_reply_to_the_reply_token_joins_its_conversation_whatever_the_subject(email_inbox, receive):
    first = first_mail(receive)
    token = first.conversation.email_thread.reply_token

    reply = receive(
        compose(to=f"reply+{token}@{DOMAIN}", subject="something else entirely"), rcpt_tos=[f"reply+{token}@{DOMAIN}"]
    )

    assert reply.conversation_id == first.conversation_id
    assert reply.meta["email"]["thread"] == "token"
    assert Conversation.objects.count() == 1


def test_reply_token_in_upper_case_still_joins(email_inbox, receive):
    first = first_mail(receive)
    token = first.conversation.email_thread.reply_token.upper()

    reply = receive(compose(to=f"REPLY+{token}@{DOMAIN.upper()}"), rcpt_tos=[f"REPLY+{token}@{DOMAIN.upper()}"])

    assert reply.conversation_id == first.conversation_id


def test_in_reply_to_our_message_id_joins_its_conversation(email_inbox, receive):
    first = first_mail(receive)
    ours = our_message_id(conversation_id=first.conversation_id, message_id=10**6, domain=DOMAIN)
    EmailMessageId.objects.create(rfc_id=ours, conversation=first.conversation, direction="out")

    reply = receive(compose(subject="Re: different", in_reply_to=ours))

    assert reply.conversation_id == first.conversation_id
    assert reply.meta["email"]["thread"] == "headers"


def test_references_only_join_its_conversation(email_inbox, receive):
    first = first_mail(receive)
    anchor = anchor_message_id(conversation_id=first.conversation_id, domain=DOMAIN)
    EmailMessageId.objects.create(rfc_id=anchor, conversation=first.conversation, direction="anchor")

    reply = receive(compose(subject="Fwd: unrelated", references=[new_message_id(), anchor]))

    assert reply.conversation_id == first.conversation_id
    assert reply.meta["email"]["thread"] == "headers"


def test_a_follow_up_to_the_customers_own_mail_joins_by_its_message_id(email_inbox, receive):
    mid = new_message_id()
    first = first_mail(receive, message_id=mid)

    follow_up = receive(compose(subject="one more thing", in_reply_to=mid, references=[mid]))

    assert follow_up.conversation_id == first.conversation_id


def test_subject_token_joins_its_conversation(email_inbox, receive):
    first = first_mail(receive)

    reply = receive(compose(subject=f"RE: AW: Router problem [#{first.conversation_id}]"))

    assert reply.conversation_id == first.conversation_id
    assert reply.meta["email"]["thread"] == "subject"


def test_no_token_no_headers_no_subject_token_opens_a_new_conversation_even_with_one_open(email_inbox, receive):
    first = first_mail(receive, subject="Router problem")

    second = receive(compose(subject="Invoice question"))

    assert second.conversation_id != first.conversation_id
    assert second.conversation.contact_id == first.conversation.contact_id
    assert first.conversation.status == Conversation.Status.OPEN
    assert Identity.objects.filter(kind="email").count() == 1


def test_unknown_reply_token_and_unknown_ids_fall_through_to_a_new_conversation(email_inbox, receive):
    first = first_mail(receive)

    other = receive(
        compose(to=f"reply+{'0' * 32}@{DOMAIN}", cc=INBOX_ADDRESS, in_reply_to=new_message_id()),
        rcpt_tos=[f"reply+{'0' * 32}@{DOMAIN}", INBOX_ADDRESS],
    )

    assert other.conversation_id != first.conversation_id
    assert other.meta["email"]["thread"] == "new"


def test_plus_addressed_inbox_address_routes_to_the_inbox(email_inbox, receive):
    message = receive(compose(to=f"support+billing@{DOMAIN}"), rcpt_tos=[f"support+billing@{DOMAIN}"])

    assert message.conversation.inbox_id == email_inbox.pk


def test_mail_for_no_inbox_is_flagged_in_the_journal_and_nothing_else_is_written(email_inbox, deliver):
    from tests.conftest import row_counts

    before = row_counts()
    entry = deliver(compose(to=f"nobody@{DOMAIN}"), rcpt_tos=[f"nobody@{DOMAIN}"])

    assert entry.state == InboundEntry.State.FLAGGED
    assert entry.flag_reason == f"no email inbox has any of the addresses nobody@{DOMAIN}"
    after = row_counts()
    assert after == dict(before, InboundEntry=before["InboundEntry"] + 1)


def test_mail_from_our_own_inbox_address_is_flagged_not_threaded(email_inbox, deliver):
    entry = deliver(compose(sender=f"Acme <{INBOX_ADDRESS}>"), mail_from=INBOX_ADDRESS)

    assert entry.state == InboundEntry.State.FLAGGED
    assert "our own address" in entry.flag_reason
    assert Message.objects.count() == 0
    assert Identity.objects.count() == 0


def test_imap_mail_goes_to_the_polled_inbox(email_inbox, django_capture_on_commit_callbacks):
    from apps.gateways.email.intake import email_accept, envelope_of

    envelope = envelope_of(transport="imap", mail_from=None, rcpt_tos=[], inbox_id=email_inbox.pk)
    with django_capture_on_commit_callbacks(execute=True):
        entry, _ = email_accept(raw=compose(to="someone-else@elsewhere.example"), envelope=envelope)
    entry.refresh_from_db()

    assert entry.state == InboundEntry.State.DONE
    assert entry.message.conversation.inbox_id == email_inbox.pk
