from __future__ import annotations

import itertools

import pytest

from apps.accounts.models import Agent
from apps.assignment.services import presence_set
from apps.conversations.models import Conversation
from apps.dispatch.models import RoutingRule, Skill
from tests.conftest import twilio_params
from tests.factories import AgentFactory, TeamFactory

_senders = itertools.count(3000)


@pytest.fixture
def rnd(db):
    return TeamFactory(name="R&D")


@pytest.fixture
def sales(db):
    return TeamFactory(name="Sales")


@pytest.fixture
def admin(db):
    return AgentFactory(username="root", role=Agent.Role.ADMIN)


@pytest.fixture
def write(post_twilio):
    """A customer texts the SMS inbox (a new number unless given); returns their conversation."""

    def send(body: str, sender: str | None = None) -> Conversation:
        sender = sender or f"+1415555{next(_senders):04d}"
        assert post_twilio(**twilio_params(From=sender, Body=body)).status_code == 200
        return Conversation.objects.filter(contact__identities__address=sender).latest("id")

    return send


def rule(name: str, *, skills: list[Skill] = (), **fields) -> RoutingRule:  # type: ignore[assignment]
    r = RoutingRule.objects.create(name=name, **fields)
    if skills:
        r.skills.set(skills)
    return r


def online(*agents) -> None:
    for a in agents:
        presence_set(agent_id=a.pk, status="online")
