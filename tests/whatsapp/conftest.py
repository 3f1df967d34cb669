from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.conversations.models import Message

WA_CUSTOMER = "whatsapp:+14155552671"
WA_DESK = "whatsapp:+15005550006"


@pytest.fixture
def api(agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def receive_whatsapp(receive_sms):
    """The customer writes on WhatsApp; `hours_ago` moves the message back in time."""

    def receive(body: str = "Where is my order?", *, hours_ago: float = 0) -> Message:
        message = receive_sms(From=WA_CUSTOMER, To=WA_DESK, Body=body, WaId="14155552671", ProfileName="Jane")
        if hours_ago:
            Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))
            message.refresh_from_db()
        return message

    return receive
