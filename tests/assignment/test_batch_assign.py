"""Assignment inside one bus batch (apps.assignment.services.AssignPool): the candidates are
locked and counted once for the batch, and the batch still keeps round robin and capacity as
one message at a time does."""

from __future__ import annotations

import pytest

from apps.assignment.models import AgentPresence
from apps.assignment.services import presence_set
from apps.bus.services import inbound_accept
from apps.bus.services.journal import inbound_drain
from apps.conversations.models import Conversation
from tests.conftest import twilio_params

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_mode(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False


def journal(senders: list[str], prefix: str = "SMp") -> None:
    for i, sender in enumerate(senders):
        params = twilio_params(From=sender, Body=f"help {i}", MessageSid=f"{prefix}{i:031d}")
        inbound_accept(
            source="twilio:" + params["AccountSid"],
            provider_message_id=params["MessageSid"],
            channel="sms",
            sender=sender,
            payload={k: [v] for k, v in params.items()},
            raw=b"",
        )


def test_a_batch_of_new_customers_is_shared_round_robin_within_capacity(
    production_mode, agent, other_agent, django_assert_max_num_queries
):
    for a in (agent, other_agent):
        a.max_conversations = 2
        a.save(update_fields=["max_conversations"])
        presence_set(agent_id=a.pk, status="online")
    senders = [f"+1415555{3000 + i:04d}" for i in range(6)]
    journal(senders)
    with django_assert_max_num_queries(200) as captured:
        assert inbound_drain(limit=50) == (6, 6)
    presence_locks = [
        q
        for q in captured.captured_queries
        if 'FROM "assignment_agentpresence"' in q["sql"] and "FOR NO KEY UPDATE" in q["sql"]
    ]
    assert len(presence_locks) == 1  # locked and counted once for the batch, not once per customer

    by_sender = {
        sender: Conversation.objects.get(contact__identities__address=sender).assignee_id for sender in senders
    }
    # Ana (lower id) first, then Ben, alternating, until each holds their two; the rest wait.
    assert [by_sender[s] for s in senders] == [agent.pk, other_agent.pk, agent.pk, other_agent.pk, None, None]
    waiting = Conversation.objects.filter(assignee__isnull=True, status=Conversation.Status.OPEN)
    assert waiting.count() == 2
    # The round-robin times were written (once, at the end of the batch).
    times = dict(AgentPresence.objects.values_list("agent_id", "last_assigned_at"))
    assert times[agent.pk] is not None and times[other_agent.pk] is not None


def test_the_next_batch_counts_what_the_last_one_assigned(production_mode, agent, other_agent):
    agent.max_conversations = 1
    agent.save(update_fields=["max_conversations"])
    presence_set(agent_id=agent.pk, status="online")
    journal(["+14155553100"])
    inbound_drain(limit=50)
    journal(["+14155553101"], prefix="SMq")  # a new batch: Ana is full, Ben is offline
    inbound_drain(limit=50)
    assignees = list(Conversation.objects.order_by("id").values_list("assignee_id", flat=True))
    assert assignees == [agent.pk, None]
