"""Concurrent claims on PostgreSQL: capacity holds and nothing is assigned twice."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from apps.assignment.services import assignment_drain, conversation_auto_assign, presence_set
from apps.conversations.models import Conversation
from tests.concurrency import run_at_once
from tests.factories import AgentFactory, ContactFactory, ConversationFactory
from tests.requires import needs_postgres

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    needs_postgres,
]


def waiting_conversations(inbox, n: int) -> list[Conversation]:
    now = timezone.now()
    return [
        ConversationFactory(inbox=inbox, contact=ContactFactory(), team=inbox.team, waiting_since=now) for _ in range(n)
    ]


def claim(conversation_id: int) -> int | None:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("inbox").get(pk=conversation_id)
        agent = conversation_auto_assign(conversation=conversation)
        return agent.pk if agent else None


@pytest.mark.parametrize("capacity", [1, 3])
def test_concurrent_claims_never_exceed_capacity(agent, sms_inbox, capacity):
    agent.max_conversations = capacity
    agent.save(update_fields=["max_conversations"])
    presence_set(agent_id=agent.pk, status="online")
    conversations = waiting_conversations(sms_inbox, 8)

    results = run_at_once(claim, [(c.pk,) for c in conversations])

    assigned = Conversation.objects.filter(assignee=agent).count()
    assert assigned == capacity
    assert sorted(r for r in results if r is not None) == [agent.pk] * capacity
    assert Conversation.objects.filter(assignee__isnull=True).count() == 8 - capacity


def test_concurrent_claims_share_out_between_agents_within_capacity(agent, other_agent, sms_inbox):
    for a in (agent, other_agent):
        a.max_conversations = 2
        a.save(update_fields=["max_conversations"])
        presence_set(agent_id=a.pk, status="online")
    conversations = waiting_conversations(sms_inbox, 6)

    run_at_once(claim, [(c.pk,) for c in conversations])

    assert Conversation.objects.filter(assignee=agent).count() == 2
    assert Conversation.objects.filter(assignee=other_agent).count() == 2
    assert Conversation.objects.filter(assignee__isnull=True).count() == 2


def test_concurrent_drains_assign_each_conversation_once(agent, other_agent, sms_inbox):
    extra = AgentFactory(username="cy")
    sms_inbox.members.add(extra)
    sms_inbox.team.members.add(extra)
    conversations = waiting_conversations(sms_inbox, 9)
    for a in (agent, other_agent, extra):
        a.max_conversations = 3
        a.save(update_fields=["max_conversations"])
        # Online without the drain that presence_set would start: the drains below race instead.
        from apps.assignment.models import AgentPresence

        AgentPresence.objects.update_or_create(
            agent=a, defaults={"status": "online", "chosen_status": "online", "last_seen_at": timezone.now()}
        )

    counts = run_at_once(assignment_drain, [()] * 4)

    assert sum(counts) == 9  # each conversation counted by exactly one drain
    per_agent = sorted(
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).values_list("assignee_id", flat=True)
    )
    assert sorted(per_agent) == sorted([agent.pk] * 3 + [other_agent.pk] * 3 + [extra.pk] * 3)
