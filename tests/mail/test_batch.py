"""Mail drained in batches (apps.mail.router.MailBatch): what the mails of a batch share is read
once (inboxes, stored dedupe keys, identities, contact locks), and a batch ends as the same mails
one at a time would — each stored once, each customer's mails in journal order, an unroutable mail
kept apart without undoing its neighbours — pinned by query count."""

from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.bus.services.journal import inbound_drain
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Conversation, Message
from apps.gateways.email.intake import email_accept, envelope_of
from tests.mail.support import INBOX_ADDRESS, JANE, compose

pytestmark = pytest.mark.django_db(transaction=True)

# Per mail from a known customer that opens a conversation: savepoint and release, conversation
# INSERT and UPDATE (assignee included), message INSERT, the mail's row, its Message-ID and the
# thread (one at a time it was 14: inbox, own-address check, identity, stored message, contact
# lock, thread and auto-ack settings were read per mail). Per batch: BEGIN, the drainers' turn,
# claim, order check, inboxes (with their settings), stored dedupe keys, identities with their
# contacts locked, the assignment pool, events (lock and INSERT), the entries' UPDATE, COMMIT.
# Triage and routing settings were read and cached by the first drain.
KNOWN_MAIL_QUERIES = 8
BATCH_QUERIES = 12


@pytest.fixture
def production_mode(settings):
    """Intake only journals; the drain (run_bus) processes."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


def journal(raw: bytes, mail_from: str) -> InboundEntry:
    envelope = envelope_of(transport="smtp", mail_from=mail_from, rcpt_tos=[INBOX_ADDRESS], peer="127.0.0.1")
    entry, created = email_accept(raw=raw, envelope=envelope)
    assert created and entry is not None
    return entry


def customer(n: int) -> str:
    return f"customer{n}@customer.example"


def test_a_batch_of_known_customers_reads_what_they_share_once(
    email_inbox, production_mode, django_assert_max_num_queries
):
    for n in range(10):  # known customers: each has an identity and a contact already
        journal(compose(sender=f"Customer {n} <{customer(n)}>", subject=f"First {n}"), customer(n))
    assert inbound_drain(limit=100) == (10, 10)
    for n in range(10):
        journal(compose(sender=f"Customer {n} <{customer(n)}>", subject=f"Second {n}"), customer(n))
    with django_assert_max_num_queries(10 * KNOWN_MAIL_QUERIES + BATCH_QUERIES):
        assert inbound_drain(limit=100) == (10, 10)
    assert Message.objects.filter(direction="in").count() == 20
    assert Conversation.objects.count() == 20  # no thread headers, no [#id]: each opens one
    assert Identity.objects.filter(kind="email").count() == Contact.objects.count() == 10


def test_a_batch_keeps_order_dedupe_and_sets_an_unroutable_mail_apart(email_inbox, production_mode):
    first = journal(compose(subject="Router problem"), JANE)
    assert inbound_drain(limit=100) == (1, 1)
    first.refresh_from_db()
    conversation_id = Message.objects.get(pk=first.message_id).conversation_id

    entries = [
        journal(compose(sender="New Person <new@customer.example>", body="one"), "new@customer.example"),
        journal(compose(sender=f"Support <{INBOX_ADDRESS}>", body="a loop"), INBOX_ADDRESS),  # unroutable
        journal(compose(sender="New Person <new@customer.example>", body="two"), "new@customer.example"),
        journal(compose(subject=f"Re: Router problem [#{conversation_id}]", body="still down"), JANE),
        journal(compose(sender="New Person <new@customer.example>", body="three"), "new@customer.example"),
        journal(compose(subject=f"Re: Router problem [#{conversation_id}]", body="now up"), JANE),
    ]
    assert inbound_drain(limit=100) == (6, 6)

    states = {e.pk: e.state for e in InboundEntry.objects.filter(pk__in=[e.pk for e in entries])}
    assert states[entries[1].pk] == InboundEntry.State.FLAGGED
    assert [states[e.pk] for e in entries if e is not entries[1]] == [InboundEntry.State.DONE] * 5
    # The new sender: one identity and contact, created by the first mail and found by the others.
    new = Identity.objects.get(kind="email", address="new@customer.example")
    assert Identity.objects.filter(contact=new.contact).count() == 1
    bodies = list(Message.objects.filter(identity=new).order_by("id").values_list("body", flat=True))
    assert bodies == ["one", "two", "three"]
    # Jane's replies joined her conversation, in journal order.
    thread = list(
        Message.objects.filter(conversation_id=conversation_id, direction="in")
        .order_by("seq")
        .values_list("body", flat=True)
    )
    assert thread == ["My router is down.", "still down", "now up"]
    # Nothing stored twice: each entry points at its own message.
    done = InboundEntry.objects.filter(state=InboundEntry.State.DONE)
    assert done.count() == 6
    assert len(set(done.values_list("message_id", flat=True))) == 6
    assert Message.objects.filter(direction="in").count() == 6


def test_a_mail_journalled_twice_in_one_batch_is_one_entry(email_inbox, production_mode):
    raw = compose(body="sent twice")
    journal(raw, JANE)
    envelope = envelope_of(transport="smtp", mail_from=JANE, rcpt_tos=[INBOX_ADDRESS], peer="127.0.0.1")
    assert email_accept(raw=raw, envelope=envelope) == (None, False)  # the journal's constraint
    assert inbound_drain(limit=100) == (1, 1)
    assert Message.objects.filter(direction="in", body="sent twice").count() == 1
