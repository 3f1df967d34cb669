from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.conversations.models import Message
from tests.factories import AgentFactory
from tests.mail.conftest import _smtp_server, deliver, email_inbox, receive, smtp  # noqa: F401 - fixtures (email)


@pytest.fixture
def admin(db, sms_inbox):
    agent = AgentFactory(username="sup", display_name="Sam Supervisor", role=Agent.Role.ADMIN)
    sms_inbox.members.add(agent)
    return agent


@pytest.fixture
def admin_api(admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin)
    return client


@pytest.fixture
def agent_api(agent) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


@pytest.fixture
def customer(receive_sms):
    """A customer writes in: on SMS from `number`, or on WhatsApp (`whatsapp=True`), `hours_ago`."""

    def write(number: str, body: str = "Internet is down", *, whatsapp: bool = False, hours_ago: float = 0) -> Message:
        if whatsapp:
            message = receive_sms(
                From=f"whatsapp:{number}", To="whatsapp:+15005550006", Body=body, WaId=number.lstrip("+")
            )
        else:
            message = receive_sms(From=number, Body=body)
        if hours_ago:
            Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))
            message.refresh_from_db()
        return message

    return write
