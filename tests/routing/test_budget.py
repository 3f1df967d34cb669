"""What routing costs a bus batch: with rules, each newly routed conversation costs one INSERT
(its timeline activity; team and priority ride on the conversation's one UPDATE), one more when
its rule requires skills (the row assignment reads them from); the rules themselves are read
once per process, not per batch; with no rules, nothing at all."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.bus.services import inbound_accept
from apps.bus.services.journal import inbound_drain
from apps.conversations.models import Conversation
from apps.dispatch.config import routing_config
from apps.dispatch.models import ConversationRouting
from tests.conftest import twilio_params
from tests.routing.conftest import online, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_mode(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False


def journal(base: int, n: int, body: str) -> None:
    for i in range(n):
        sender = f"+1415555{base + i:04d}"
        params = twilio_params(From=sender, Body=body, MessageSid=f"SMr{base + i:031d}")
        inbound_accept(
            source="twilio:" + params["AccountSid"],
            provider_message_id=params["MessageSid"],
            channel="sms",
            sender=sender,
            payload={k: [v] for k, v in params.items()},
            raw=b"",
        )


def drain_queries() -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert inbound_drain(limit=50) == (6, 6)
    return [q["sql"] for q in ctx.captured_queries]


def test_routing_costs_one_insert_per_routed_conversation_and_nothing_per_batch(production_mode, sms_inbox, rnd):
    journal(4000, 6, "The app crashes")
    without = drain_queries()
    rule("Sales", position=1, keywords=["price"], customer="known")
    rule("Bugs", position=2, keywords=["crash"], team=rnd, priority=3)
    rule("Default", position=3)
    routing_config()  # a long-lived worker built it once already
    journal(5000, 6, "The app crashes")
    with_rules = drain_queries()
    assert not ConversationRouting.objects.exists()  # no skills required: no row
    assert Conversation.objects.filter(team=rnd, priority=3).count() == 6
    extra = len(with_rules) - len(without)
    assert extra == 6, "\n".join(with_rules)
    assert not any("routing_routingrule" in q for q in with_rules)  # the rules came from the snapshot


def test_a_queue_nobody_staffs_does_not_stop_the_batch_assigning_another(production_mode, sms_inbox, rnd, agent):
    """In one batch, a conversation routed to R&D (nobody online there) waits; the next one, for
    the inbox's own team, is still given to its online agent."""
    rule("Bugs", keywords=["crash"], team=rnd)
    online(agent)
    journal(6000, 1, "The app crashes")
    journal(6001, 1, "Where is my parcel?")
    assert inbound_drain(limit=50) == (2, 2)
    bug = Conversation.objects.get(contact__identities__address="+14155556000")
    parcel = Conversation.objects.get(contact__identities__address="+14155556001")
    assert (bug.team_id, bug.assignee_id) == (rnd.pk, None)
    assert parcel.assignee_id == agent.pk
