"""GET /api/v1/attachments/<id>: media bytes for the agents of the conversation's inbox only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import agent_create
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db(transaction=True)

JPEG = b"\xff\xd8\xff\xe0" + b"photo-of-the-router" * 10


@pytest.fixture
def attachment(receive_sms, twilio_server, agent):
    url = twilio_server.add_media(JPEG, "image/jpeg")
    message = receive_sms(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    return message.attachments.get()


def test_agent_of_the_inbox_downloads_the_bytes_with_no_sniffing(api, attachment):
    response = api.get(f"/api/v1/attachments/{attachment.pk}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == JPEG
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_message_api_points_at_the_protected_url(api, attachment):
    response = api.get(f"/api/v1/conversations/{attachment.message.conversation_id}/messages")
    [item] = [m for m in response.json()["results"] if m["attachments"]]
    assert item["attachments"][0]["url"] == f"/api/v1/attachments/{attachment.pk}"


def test_agent_of_another_inbox_gets_404(attachment):
    other_inbox = InboxFactory()
    outsider, token = agent_create(username="outsider", password="pw-outsider-1", inboxes=[other_inbox])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(f"/api/v1/attachments/{attachment.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_anonymous_gets_401(attachment):
    response = APIClient().get(f"/api/v1/attachments/{attachment.pk}")
    assert response.status_code == 401


def test_media_is_not_served_from_a_public_path(client, attachment):
    assert client.get("/media/" + attachment.file.name).status_code == 404
