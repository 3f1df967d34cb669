"""The journal drain (issue 9): pending entries are claimed in batches, stored in one
transaction with one INSERT of their events, each customer's messages in their order; a bad
entry fails alone; concurrent drainers never process an entry twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.bus import registry
from apps.bus.models import Event, InboundEntry
from apps.bus.services import inbound_accept
from apps.bus.services.journal import MAX_ATTEMPTS, inbound_drain
from apps.conversations.models import Conversation, Message
from tests.conftest import twilio_params
from tests.requires import needs_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_mode(settings):
    """Intake only journals and rings the doorbell; the drain (run_bus) processes."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


def journal(n: int, *, senders: int = 1, prefix: str = "SMd") -> list[InboundEntry]:
    entries = []
    for i in range(n):
        sender = f"+1415555{2600 + i % senders:04d}"
        params = twilio_params(From=sender, Body=f"message {i}", MessageSid=f"{prefix}{i:030d}")
        entry, created = inbound_accept(
            source="twilio:" + params["AccountSid"],
            provider_message_id=params["MessageSid"],
            channel="sms",
            sender=sender,
            payload={k: [v] for k, v in params.items()},
            raw=b"",
        )
        assert created
        entries.append(entry)
    return entries


def test_one_drain_stores_a_batch_with_one_insert_of_its_events(
    production_mode, sms_inbox, django_assert_max_num_queries
):
    journal(30, senders=6)
    # A message costs its INSERT; a new customer ~3 (its conversation's INSERT and UPDATEs:
    # contacts and identities are written for the whole batch at once); the batch ~14 (claim,
    # order check, inbox, stored ids, identities, their locks and INSERTs, locks, events, entries).
    with django_assert_max_num_queries(30 + 6 * 3 + 14) as captured:
        assert inbound_drain(limit=50) == (30, 30)
    # (The INSERT is sent in one round trip with the journal's UPDATE: one captured query.)
    event_inserts = sum(q["sql"].count('INSERT INTO "bus_event"') for q in captured.captured_queries)
    assert event_inserts == 1
    assert InboundEntry.objects.filter(state=InboundEntry.State.DONE).count() == 30
    assert Message.objects.filter(direction="in").count() == 30
    assert Conversation.objects.count() == 6
    for conversation in Conversation.objects.all():
        bodies = list(conversation.messages.filter(direction="in").order_by("seq").values_list("body", flat=True))
        assert bodies == sorted(bodies, key=lambda b: int(b.split()[1]))  # the order they came in
    assert inbound_drain(limit=50) == (0, 0)


def test_known_customers_cost_about_one_statement_per_message(
    production_mode, sms_inbox, django_assert_max_num_queries
):
    journal(6, senders=6, prefix="SMa")
    inbound_drain(limit=50)
    journal(60, senders=6, prefix="SMb")
    # Each message its INSERT; each conversation one UPDATE for the batch; the batch the rest.
    with django_assert_max_num_queries(60 + 6 + 16):
        assert inbound_drain(limit=100) == (60, 60)
    assert Message.objects.filter(direction="in").count() == 66
    assert Conversation.objects.get(contact__identities__address="+14155552600").last_seq == 11


def test_a_batch_is_claimed_in_journal_order_up_to_its_limit(production_mode, sms_inbox):
    entries = journal(5, senders=5)
    assert inbound_drain(limit=3) == (3, 3)
    done = set(InboundEntry.objects.filter(state=InboundEntry.State.DONE).values_list("id", flat=True))
    assert done == {e.pk for e in entries[:3]}


def test_an_entry_that_fails_is_retried_alone_and_its_senders_later_messages_wait(
    production_mode, sms_inbox, monkeypatch
):
    entries = journal(6, senders=2)  # sender A: 0, 2, 4; sender B: 1, 3, 5
    bad = entries[2].pk
    channel = registry.inbound_channel("sms")
    real_receiver = channel.receiver

    def receiver(deliveries):
        if any(d.entry.pk == bad for d in deliveries):
            raise RuntimeError("a bug in one message's path")
        real_receiver(deliveries)

    snapshot = registry.snapshot()
    registry.register_inbound("sms", parser=channel.parser, receiver=receiver)
    try:
        assert inbound_drain(limit=10) == (6, 4)  # the bad one failed; its sender's next one waits
    finally:
        registry.restore(snapshot)

    states = dict(InboundEntry.objects.values_list("id", "state"))
    assert [states[e.pk] for e in entries] == ["done", "done", "pending", "done", "pending", "done"]
    failed = InboundEntry.objects.get(pk=bad)
    assert failed.attempts == 1 and "a bug in one message's path" in failed.last_error
    assert failed.retry_at is not None
    # Not before its backoff, and sender A's later message waits behind it.
    assert inbound_drain(limit=10) == (1, 0)
    InboundEntry.objects.filter(pk=bad).update(retry_at=None)
    assert inbound_drain(limit=10) == (2, 2)
    a = Message.objects.filter(identity__address="+14155552600").order_by("seq").values_list("body", flat=True)
    assert list(a) == ["message 0", "message 2", "message 4"]


def test_an_entry_that_keeps_failing_is_given_up_and_kept(production_mode, sms_inbox, monkeypatch):
    [entry] = journal(1)
    InboundEntry.objects.filter(pk=entry.pk).update(attempts=MAX_ATTEMPTS - 1)
    channel = registry.inbound_channel("sms")

    def broken(deliveries):
        raise RuntimeError("still broken")

    snapshot = registry.snapshot()
    registry.register_inbound("sms", parser=channel.parser, receiver=broken)
    try:
        inbound_drain(limit=10)
    finally:
        registry.restore(snapshot)
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.FAILED
    assert entry.payload["Body"] == ["message 0"]  # kept for an admin


def test_a_malformed_entry_is_flagged_and_the_rest_of_the_batch_is_stored(production_mode, sms_inbox):
    good = journal(2, senders=2)
    InboundEntry.objects.filter(pk=good[0].pk).update(payload={"AccountSid": ["AC1"]})  # no MessageSid, no Body
    assert inbound_drain(limit=10) == (2, 2)
    assert InboundEntry.objects.get(pk=good[0].pk).state == InboundEntry.State.FLAGGED
    assert InboundEntry.objects.get(pk=good[1].pk).state == InboundEntry.State.DONE


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_drainers_process_each_entry_once_and_keep_each_senders_order(production_mode, sms_inbox):
    journal(200, senders=10)
    totals: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def drain() -> None:
        try:
            barrier.wait(timeout=10)
            while True:
                claimed, processed = inbound_drain(limit=15)
                with lock:
                    totals.append(processed)
                if not claimed:
                    if not InboundEntry.objects.filter(state="pending").exists():
                        return
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(totals) == 200
    assert Message.objects.filter(direction="in").count() == 200
    assert InboundEntry.objects.filter(state="done").count() == 200
    for conversation in Conversation.objects.all():
        bodies = list(conversation.messages.filter(direction="in").order_by("seq").values_list("body", flat=True))
        assert bodies == sorted(bodies, key=lambda b: int(b.split()[1]))
    created = Event.objects.filter(type="message.created", data__direction="in")
    assert created.count() == 200


def test_a_batch_keeps_each_conversations_inbound_count_and_channel(production_mode, sms_inbox):
    journal(12, senders=3, prefix="SMk")
    assert inbound_drain(limit=5) == (5, 5)  # conversations written once per batch, over batches
    assert inbound_drain(limit=50) == (7, 7)
    for conversation in Conversation.objects.all():
        inbound = conversation.messages.filter(direction="in", kind="message").count()
        assert (conversation.inbound_count, conversation.last_channel) == (inbound, "phone")
    assert sorted(Conversation.objects.values_list("inbound_count", flat=True)) == [4, 4, 4]


def test_new_customers_of_a_batch_get_their_contacts_and_identities_together(
    production_mode, sms_inbox, django_assert_max_num_queries
):
    from apps.contacts.models import Contact, Identity

    journal(12, senders=6)  # six new customers, two messages each
    # Each message its INSERT, each new conversation its INSERT and UPDATE, the batch the rest
    # (40 on 2026-12-06; it was 80 before contacts and identities were written per batch).
    with django_assert_max_num_queries(40) as captured:
        assert inbound_drain(limit=50) == (12, 12)
    contact_inserts = [q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "contacts_contact"')]
    identity_inserts = [q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "contacts_identity"')]
    assert len(contact_inserts) == 1 and len(identity_inserts) == 1
    assert Contact.objects.count() == 6
    assert Identity.objects.filter(kind="phone", verified=True).count() == 6
    # One conversation per customer, each with both of its messages.
    assert sorted(Conversation.objects.values_list("last_seq", flat=True)) == [2] * 6
    for identity in Identity.objects.all():
        assert Conversation.objects.filter(contact_id=identity.contact_id).count() == 1


def test_a_new_whatsapp_sender_whose_number_texted_before_joins_that_contact(production_mode, sms_inbox):
    from django.db import transaction

    from apps.contacts.models import Contact, Identity
    from apps.contacts.services import Sender, identities_resolve_verified

    with transaction.atomic():
        sms = identities_resolve_verified([Sender(kind="phone", address="+14155550199", name="Ada")])
    with transaction.atomic():
        both = identities_resolve_verified(
            [Sender(kind="whatsapp", address="+14155550199"), Sender(kind="phone", address="+14155550199")]
        )
    assert both[("phone", "+14155550199")].pk == sms[("phone", "+14155550199")].pk
    assert both[("whatsapp", "+14155550199")].contact_id == sms[("phone", "+14155550199")].contact_id
    assert Contact.objects.count() == 1 and Contact.objects.get().name == "Ada"
    assert Identity.objects.count() == 2


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_drainers_take_turns_and_drain_beside_one_that_is_stuck(production_mode, sms_inbox, settings):
    import time

    import psycopg

    from apps.bus.services.journal import DRAIN_TURN_KEY

    settings.BUS_DRAIN_TURN_WAIT_SECONDS = 0.3
    journal(3, senders=3)
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "pool", "prepare_threshold"):
        params.pop(key, None)
    # Another drainer's batch holds the turn and never ends (a stopped process).
    with psycopg.connect(**params) as stuck:
        stuck.execute("SELECT pg_advisory_xact_lock(%s)", [DRAIN_TURN_KEY])
        started = time.monotonic()
        assert inbound_drain(limit=10) == (3, 3)  # waited for the turn, then drained beside it
        assert time.monotonic() - started >= 0.3
        stuck.rollback()
    journal(2, senders=2, prefix="SMt")
    started = time.monotonic()
    assert inbound_drain(limit=10) == (2, 2)  # nobody holds the turn: no wait
    assert time.monotonic() - started < 0.3


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_bus_worker_steps_back_while_another_drains_and_drains_beside_one_that_is_stuck(
    production_mode, sms_inbox, settings
):
    """The bus worker's loop (a TurnWatch): while another drainer's batch runs, it does nothing
    at once (that drainer hears the same rings); only when the oldest entry a drainer could take
    has not moved for the turn's wait does it drain beside it."""
    import time

    import psycopg

    from apps.bus.services.journal import DRAIN_TURN_KEY, TurnWatch

    settings.BUS_DRAIN_TURN_WAIT_SECONDS = 0.3
    entries = journal(3, senders=3)
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "pool", "prepare_threshold"):
        params.pop(key, None)
    watch = TurnWatch()
    with psycopg.connect(**params) as holder, psycopg.connect(**params, autocommit=True) as progress:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [DRAIN_TURN_KEY])
        started = time.monotonic()
        assert inbound_drain(limit=10, watch=watch) == (0, 0)
        assert watch.stepped_back and time.monotonic() - started < 0.3  # stepped back at once
        time.sleep(0.2)
        # The holder moves on (its batch took the oldest entry): not stuck, whatever the time.
        progress.execute("UPDATE bus_inboundentry SET state = 'done' WHERE id = %s", [entries[0].pk])
        assert inbound_drain(limit=10, watch=watch) == (0, 0)
        time.sleep(0.2)
        assert inbound_drain(limit=10, watch=watch) == (0, 0)  # 0.4 s in all, 0.2 on this oldest
        assert watch.stepped_back
        time.sleep(0.15)
        # The same oldest entry for the turn's wait: the holder is stuck; drained beside it.
        assert inbound_drain(limit=10, watch=watch) == (2, 2)
        assert not watch.stepped_back
        holder.rollback()
    assert InboundEntry.objects.filter(state=InboundEntry.State.PENDING).count() == 0
