from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from apps.accounts.models import Inbox
from tests.factories import AgentFactory, InboxFactory, TeamFactory

TWILIO_ACCOUNT = "AC" + "1" * 32


@pytest.fixture
def team(db):
    return TeamFactory(name="Support")


@pytest.fixture
def sms_inbox(db, team) -> Inbox:
    return InboxFactory(name="Main SMS", address="+15005550006", team=team)


@pytest.fixture
def agent(db, sms_inbox, team):
    agent = AgentFactory(username="ana", display_name="Ana")
    sms_inbox.members.add(agent)
    team.members.add(agent)
    return agent


@pytest.fixture
def other_agent(db, sms_inbox, team):
    agent = AgentFactory(username="ben", display_name="Ben")
    sms_inbox.members.add(agent)
    team.members.add(agent)
    return agent


def twilio_params(**overrides: str) -> dict[str, str]:
    sid = overrides.pop("MessageSid", None) or "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": TWILIO_ACCOUNT,
        "From": "+14155552671", "To": "+15005550006", "Body": "My router is down",
        "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
    }
    params.update(overrides)
    return params


def twilio_sign(path: str, params: dict[str, str], token: str | None = None) -> str:
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )


@pytest.fixture
def post_twilio(client):
    """POST a correctly signed Twilio webhook through the Django test client."""

    def post(path: str = "/webhooks/twilio/messages", **params: str):
        signature = twilio_sign(path, params)
        return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)

    return post
