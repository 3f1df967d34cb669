"""REST API authentication: token or session, and JSON errors without."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_credentials_get_401_json(client, agent):
    response = client.get("/api/v1/conversations")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_gets_401(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    response = client.get("/api/v1/conversations")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_token_auth(api, agent, sms_inbox):
    response = api.get("/api/v1/inboxes")
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": sms_inbox.pk,
                "name": "Main SMS",
                "channel": "sms",
                "address": "+15005550006",
                "team": sms_inbox.team_id,
                "auto_assign": True,
            }
        ]
    }


def test_session_auth(client, agent):
    client.force_login(agent)
    response = client.get("/api/v1/conversations")
    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_session_auth_writes_need_the_csrf_token(agent, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    response = client.post(url, {"body": "hi", "client_id": "c1"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    client.get("/console/login/")  # its form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        url, {"body": "hi", "client_id": "c1"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 201


def test_inactive_agents_token_is_refused(api, agent):
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    response = api.get("/api/v1/conversations")
    assert response.status_code == 401
