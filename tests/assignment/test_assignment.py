"""Assignment: presence, round robin, capacity, the waiting queue and requeue (DESIGN.md §1.3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.assignment.models import AgentPresence
from apps.assignment.services import presence_expire, presence_heartbeat, presence_set
from apps.bus.models import Event
from apps.conversations.models import Conversation
from apps.conversations.services import conversation_update
from tests.conftest import twilio_params
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer_writes(post_twilio):
    """A new customer (one per call, numbered) texts the SMS inbox; returns their conversation."""
    count = iter(range(100, 200))

    def write(sender: str | None = None) -> Conversation:
        sender = sender or f"+1415555{next(count):04d}"
        assert post_twilio(**twilio_params(From=sender, Body="help")).status_code == 200
        return Conversation.objects.get(contact__identities__address=sender)

    return write


def online(*agents) -> None:
    for agent in agents:
        presence_set(agent_id=agent.pk, status="online")


def assignees(conversations) -> list[int | None]:
    return [Conversation.objects.get(pk=c.pk).assignee_id for c in conversations]


def test_round_robin_alternates_between_online_agents(agent, other_agent, customer_writes):
    online(agent, other_agent)
    conversations = [customer_writes() for _ in range(4)]
    # Neither has had a conversation yet: the tie goes to the lower id (ana).
    assert assignees(conversations) == [agent.pk, other_agent.pk, agent.pk, other_agent.pk]


def test_offline_and_away_agents_get_nothing(agent, other_agent, customer_writes):
    online(agent)
    presence_set(agent_id=other_agent.pk, status="away")
    conversations = [customer_writes() for _ in range(3)]
    assert assignees(conversations) == [agent.pk] * 3


def test_agent_outside_the_inbox_team_gets_nothing(agent, sms_inbox, customer_writes):
    outsider = AgentFactory(username="outsider")
    sms_inbox.members.add(outsider)  # in the inbox, not in its team
    online(outsider)
    conversation = customer_writes()
    assert conversation.assignee_id is None
    online(agent)
    assert assignees([conversation]) == [agent.pk]


def test_agent_at_capacity_is_skipped(agent, other_agent, customer_writes):
    agent.max_conversations = 1
    agent.save(update_fields=["max_conversations"])
    online(agent)
    first = customer_writes()
    assert first.assignee_id == agent.pk
    online(other_agent)
    later = [customer_writes() for _ in range(2)]
    assert assignees(later) == [other_agent.pk, other_agent.pk]


def test_nobody_available_leaves_the_conversation_waiting_until_capacity_frees(agent, customer_writes):
    agent.max_conversations = 1
    agent.save(update_fields=["max_conversations"])
    online(agent)
    first = customer_writes()
    waiting = customer_writes()
    assert assignees([first, waiting]) == [agent.pk, None]
    assert Conversation.objects.get(pk=waiting.pk).waiting_since is not None

    conversation_update(conversation_id=first.pk, by=agent, status="resolved")

    assert assignees([waiting]) == [agent.pk]
    update = Event.objects.filter(type="conversation.updated", conversation_id=waiting.pk).get()
    assert update.data["assignee"] == agent.pk
    assert update.data["changes"] == ["assignee"]


def test_waiting_conversations_are_assigned_when_an_agent_comes_online(agent, customer_writes):
    conversations = [customer_writes() for _ in range(3)]
    assert assignees(conversations) == [None, None, None]
    before = Event.objects.order_by("-id").values_list("id", flat=True).first()

    presence_set(agent_id=agent.pk, status="online")

    assert assignees(conversations) == [agent.pk] * 3
    events = list(Event.objects.filter(id__gt=before).order_by("id").values_list("type", "conversation_id", "agent_id"))
    assert events == [("presence.updated", None, None)] + [
        event
        for c in conversations
        for event in [("conversation.updated", c.pk, None), ("notification.created", c.pk, agent.pk)]
    ]


def test_a_connected_console_brings_an_expired_agent_back_and_drains(agent, customer_writes):
    conversation = customer_writes()
    presence_heartbeat(agent_id=agent.pk)  # what the console socket does on connect and every beat
    presence = AgentPresence.objects.get(agent=agent)
    assert presence.status == "online"
    assert assignees([conversation]) == [agent.pk]


def test_going_offline_hands_open_conversations_to_another_online_agent(agent, other_agent, customer_writes):
    online(agent)
    mine = [customer_writes() for _ in range(2)]
    assert assignees(mine) == [agent.pk, agent.pk]
    conversation_update(conversation_id=mine[1].pk, by=agent, status="pending")
    online(other_agent)

    presence_set(agent_id=agent.pk, status="offline")

    # The open one moves; the pending one stays with its agent.
    assert assignees(mine) == [other_agent.pk, agent.pk]
    updates = list(
        Event.objects.filter(type="conversation.updated", conversation_id=mine[0].pk)
        .order_by("id")
        .values_list("data__assignee", flat=True)
    )
    assert updates == [None, other_agent.pk]


def test_expired_agent_is_set_offline_and_their_conversations_requeued(agent, other_agent, customer_writes, settings):
    online(agent)
    mine = [customer_writes() for _ in range(2)]
    online(other_agent)
    stale = timezone.now() - dt.timedelta(seconds=settings.PRESENCE_TTL_SECONDS + 5)
    AgentPresence.objects.filter(agent=agent).update(last_seen_at=stale)

    assert presence_expire() == 1

    assert AgentPresence.objects.get(agent=agent).status == "offline"
    assert AgentPresence.objects.get(agent=other_agent).status == "online"
    assert assignees(mine) == [other_agent.pk, other_agent.pk]
    assert presence_expire() == 0  # nothing left to expire


def test_requeue_with_nobody_else_online_leaves_conversations_waiting(agent, customer_writes):
    online(agent)
    conversation = customer_writes()
    presence_set(agent_id=agent.pk, status="offline")
    assert assignees([conversation]) == [None]


def test_backlog_of_an_unstaffed_inbox_does_not_starve_a_staffed_one(agent, customer_writes):
    from apps.assignment.services import assignment_drain
    from tests.factories import ContactFactory, ConversationFactory, InboxFactory

    unstaffed = InboxFactory(address="+15005550077")
    old = timezone.now() - dt.timedelta(hours=1)
    backlog = [ConversationFactory(inbox=unstaffed, contact=ContactFactory(), waiting_since=old) for _ in range(5)]
    mine = customer_writes()  # waits: nobody is online yet
    AgentPresence.objects.update_or_create(
        agent=agent, defaults={"status": "online", "chosen_status": "online", "last_seen_at": timezone.now()}
    )

    assert assignment_drain(limit=3) == 1

    assert assignees([mine]) == [agent.pk]
    assert assignees(backlog) == [None] * 5
