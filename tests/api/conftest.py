from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.conversations.models import Conversation
from tests.conftest import twilio_params


@pytest.fixture
def token(agent) -> str:
    return Token.objects.get_or_create(user=agent)[0].key


@pytest.fixture
def api(token) -> APIClient:
    """Ana's API client (token auth)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def conversation(post_twilio, agent) -> Conversation:
    """A customer has texted ana's SMS inbox."""
    assert post_twilio(**twilio_params(From="+14155552671", Body="My router is down")).status_code == 200
    return Conversation.objects.get()
