from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from tests.factories import AgentFactory
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def admin(db, sms_inbox):
    agent = AgentFactory(username="root", role=Agent.Role.ADMIN)
    sms_inbox.members.add(agent)
    return agent


@pytest.fixture
def admin_api(admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin)
    return client


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOKS_SEND_THREADS = 1
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2.0
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    settings.WEBHOOKS_RETRY_SECONDS = [10, 60, 300, 1800, 3600, 7200, 14400, 28800]
    settings.WEBHOOKS_RETRY_HOURS = 24.0


@pytest.fixture
def agent_api(agent) -> APIClient:
    """Ana, an agent (not an admin)."""
    client = APIClient()
    client.force_authenticate(agent)
    return client
