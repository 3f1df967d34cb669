from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.assignment.services import presence_set
from apps.conversations.models import Conversation
from apps.triage.services import rule_create
from tests.conftest import twilio_params
from tests.factories import AgentFactory

# The verdict of a message on a desk without triage rules or a model (Message.meta["triage"]).
NO_RULE_NO_MODEL = {
    "verdict": "actionable",
    "category": "actionable",
    "reason": "No rule matched (no model rolled out yet)",
    "source": "default",
}
CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "triage" / "corpus.jsonl"


def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def admin(db, sms_inbox):
    admin = AgentFactory(username="root", display_name="Root", role=Agent.Role.ADMIN)
    sms_inbox.members.add(admin)
    return admin


def api_client(agent: Agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def api(agent) -> APIClient:
    """Ana's API client (an agent, not an administrator)."""
    return api_client(agent)


@pytest.fixture
def admin_api(admin) -> APIClient:
    return api_client(admin)


@pytest.fixture
def texts(post_twilio, sms_inbox):
    """A customer texts the SMS inbox (a new customer per sender); returns their conversation."""

    def text(body: str, sender: str = "+14155552671") -> Conversation:
        assert post_twilio(**twilio_params(From=sender, Body=body)).status_code == 200
        return Conversation.objects.get(contact__identities__address=sender)

    return text


@pytest.fixture
def thanks_rule(db):
    return rule_create(by=None, name="Thanks only", keywords=["thank you", "thanks"], category="praise")


def online(*agents: Agent) -> None:
    for agent in agents:
        presence_set(agent_id=agent.pk, status="online")
