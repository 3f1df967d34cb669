"""Unread totals from the kept tally (conversations migration 0012, PostgreSQL): whatever happens
to conversations and read markers, by the services or by plain SQL, the totals read from the
tally are the ones counted from every open conversation."""

from __future__ import annotations

import importlib
import random
import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Agent
from apps.api import selectors
from apps.conversations.models import Conversation, ReadMarker, UnreadTally
from apps.conversations.unread import unread_tally_fold
from tests.factories import AgentFactory, ContactFactory, ConversationFactory, InboxFactory, TeamFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]

STATUSES = [s.value for s in Conversation.Status]


@pytest.fixture
def desk() -> tuple[list, list[Agent]]:
    team = TeamFactory()
    inboxes = [InboxFactory(team=team), InboxFactory(team=team), InboxFactory()]
    ana, ben, cho = (AgentFactory() for _ in range(3))
    boss = AgentFactory(role=Agent.Role.SUPERVISOR)
    team.members.add(boss)
    inboxes[0].members.add(ana, ben)
    inboxes[1].members.add(ana, cho)
    inboxes[2].members.add(ben, cho)
    return inboxes, [ana, ben, cho, boss]


def assert_same_totals(agents: list[Agent]) -> None:
    for agent in agents:
        assert selectors.unread_totals(agent=agent) == selectors._unread_by_counting(agent), agent.username


def test_the_tally_follows_every_kind_of_change_in_any_order(desk):
    inboxes, agents = desk
    rng = random.Random(14)
    contacts = [ContactFactory() for _ in range(6)]
    conversations: list[int] = []
    assignees = [None, *(a.pk for a in agents)]

    def new_conversation() -> None:
        conversation = ConversationFactory(
            inbox=rng.choice(inboxes),
            contact=rng.choice(contacts),
            status=rng.choice(STATUSES),
            assignee_id=rng.choice(assignees),
            noise=rng.random() < 0.2,
            inbound_count=rng.choice([0, 1, 3]),
        )
        conversations.append(conversation.pk)

    for _ in range(8):
        new_conversation()
    assert_same_totals(agents)

    for step in range(240):
        pk = rng.choice(conversations)
        rows = Conversation.objects.filter(pk=pk)
        move = rng.randrange(10)
        if move == 0:
            new_conversation()
        elif move <= 2:
            rows.update(inbound_count=F("inbound_count") + rng.choice([1, 1, 2]))  # messages come in
        elif move == 3:
            rows.update(status=rng.choice(STATUSES))
        elif move == 4:
            rows.update(assignee_id=rng.choice(assignees))
        elif move == 5:
            rows.update(noise=rng.random() < 0.5)
        elif move == 6:
            rows.update(inbox=rng.choice(inboxes))
        elif move == 7:
            # A marker anywhere from nothing read to past the count (which must not go below zero).
            count = rows.values_list("inbound_count", flat=True).get()
            ReadMarker.objects.update_or_create(
                agent=rng.choice(agents), conversation_id=pk, defaults={"read_inbound_count": rng.randint(0, count + 1)}
            )
        elif move == 9 and rng.random() < 0.5:
            ReadMarker.objects.filter(conversation_id=pk, agent=rng.choice(agents)).delete()
        elif move == 8:
            # Several columns at once, as a save() of the whole row writes them.
            conversation = rows.get()
            conversation.status = rng.choice(STATUSES)
            conversation.assignee_id = rng.choice(assignees)
            conversation.inbound_count += 1
            conversation.save()
        elif move == 9 and len(conversations) > 4:
            ReadMarker.objects.filter(conversation_id=pk).delete()
            rows.delete()
            conversations.remove(pk)
        if step % 20 == 0:
            assert_same_totals(agents)
        if step % 60 == 59:
            unread_tally_fold()
            assert_same_totals(agents)
    assert_same_totals(agents)
    assert selectors.unread_totals(agent=agents[0]) != {"messages": 0, "conversations": 0, "noise": 0}


def test_folding_leaves_one_row_per_key_and_none_for_a_key_that_sums_to_nothing(desk):
    inboxes, (ana, *_) = desk
    kept = ConversationFactory(inbox=inboxes[0], assignee=ana, inbound_count=1)
    gone = ConversationFactory(inbox=inboxes[1], inbound_count=2)
    for _ in range(5):
        Conversation.objects.filter(pk=kept.pk).update(inbound_count=F("inbound_count") + 1)
    Conversation.objects.filter(pk=gone.pk).update(status="resolved")
    assert UnreadTally.objects.count() == 8  # two new, five messages, one resolved
    before = selectors.unread_totals(agent=ana)

    assert unread_tally_fold() == 1
    assert list(UnreadTally.objects.values_list("inbox_id", "assignee_id", "messages", "conversations", "noise")) == [
        (inboxes[0].pk, ana.pk, 6, 1, 0)
    ]
    assert selectors.unread_totals(agent=ana) == before == {"messages": 6, "conversations": 1, "noise": 0}
    assert unread_tally_fold() == 1  # nothing to fold: nothing rewritten


def test_the_migration_copies_the_sums_the_trigger_keeps(desk):
    inboxes, agents = desk
    rng = random.Random(12)
    for _ in range(30):
        ConversationFactory(
            inbox=rng.choice(inboxes),
            status=rng.choice(STATUSES),
            assignee_id=rng.choice([None, *(a.pk for a in agents)]),
            noise=rng.random() < 0.2,
            inbound_count=rng.choice([0, 1, 4]),
        )
    unread_tally_fold()
    kept = set(UnreadTally.objects.values_list("inbox_id", "assignee_id", "messages", "conversations", "noise"))
    assert kept
    migration = importlib.import_module("apps.conversations.migrations.0012_unread_tally")
    UnreadTally.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(migration.COPY)
    copied = set(UnreadTally.objects.values_list("inbox_id", "assignee_id", "messages", "conversations", "noise"))
    assert copied == kept


def test_the_totals_read_the_tally_alone_however_many_conversations_are_open(desk):
    """At 1M conversations an agent could answer 30,000 open ones; the totals read neither them
    nor the agent's markers (50,000 at that size, mostly of resolved conversations), only the
    tally's rows of the agent's inboxes."""
    inboxes, (ana, *_) = desk
    rows = [ConversationFactory(inbox=inboxes[0], inbound_count=2) for _ in range(200)]
    for conversation in rows[-2:]:
        ReadMarker.objects.create(agent=ana, conversation=conversation, read_inbound_count=2)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.unread_totals(agent=ana) == {"messages": 396, "conversations": 198, "noise": 0}
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
        (plan,) = cursor.fetchone()[0]

    def relations(node):
        if "Relation Name" in node:
            yield node["Relation Name"]
        for child in node.get("Plans", []):
            yield from relations(child)

    assert set(relations(plan["Plan"])) == {"conversations_unreadtally", "accounts_inbox_members"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["conversation", "marker"])
def test_a_marker_and_its_conversation_changing_at_once_add_up(first):
    """An agent reads a conversation to its end while a new message comes in, in two
    transactions at once, either one first: the second waits for the first (the marker's trigger
    locks the conversation FOR SHARE), sees its change, and the sums end as counted."""
    inbox = InboxFactory()
    ana = AgentFactory()
    inbox.members.add(ana)
    conversation = ConversationFactory(inbox=inbox, inbound_count=5)
    ReadMarker.objects.create(agent=ana, conversation=conversation, read_inbound_count=4)
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def read_to_the_end() -> None:
        ReadMarker.objects.filter(agent=ana, conversation=conversation).update(read_inbound_count=5)

    def new_message() -> None:
        Conversation.objects.filter(pk=conversation.pk).update(inbound_count=F("inbound_count") + 1)

    def hold(change) -> None:
        try:
            with transaction.atomic():
                change()
                holding.set()
                release.wait(10)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            connections.close_all()

    def wait_then(change) -> None:
        try:
            change()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    changes = {"conversation": new_message, "marker": read_to_the_end}
    second = "marker" if first == "conversation" else "conversation"
    holder = threading.Thread(target=hold, args=(changes[first],))
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=wait_then, args=(changes[second],))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive()  # it waits for the first transaction
    release.set()
    holder.join(10)
    waiter.join(10)
    assert errors == []
    assert (
        selectors.unread_totals(agent=ana)
        == selectors._unread_by_counting(ana)
        == {
            "messages": 1,
            "conversations": 1,
            "noise": 0,
        }
    )
