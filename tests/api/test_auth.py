"""REST API authentication: token or session, and JSON errors without."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.api.authentication import CachedTokenAuthentication

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


def test_a_token_that_authenticated_is_not_read_again_within_the_cache_seconds(api, agent, settings, token_clock):
    settings.API_TOKEN_CACHE_SECONDS = 5
    with CaptureQueriesContext(connection) as cold:
        assert api.get("/api/v1/labels").status_code == 200
    token_clock.advance(4.9)
    with CaptureQueriesContext(connection) as warm:
        assert api.get("/api/v1/labels").status_code == 200
    assert len(warm) == len(cold) - 1
    assert not any("authtoken_token" in q["sql"] for q in warm.captured_queries)
    assert any("authtoken_token" in q["sql"] for q in cold.captured_queries)


def test_a_revoked_token_is_refused_once_the_cache_seconds_have_passed(api, agent, token, settings, token_clock):
    settings.API_TOKEN_CACHE_SECONDS = 5
    assert api.get("/api/v1/labels").status_code == 200
    # Revoked by another process (as SQL: this process hears of no delete) is remembered a while.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE key = %s", [token])
    token_clock.advance(4)
    assert api.get("/api/v1/labels").status_code == 200
    token_clock.advance(1)
    response = api.get("/api/v1/labels")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_token_deleted_in_this_process_is_refused_at_once(api, agent, token, settings):
    settings.API_TOKEN_CACHE_SECONDS = 5
    assert api.get("/api/v1/labels").status_code == 200
    Token.objects.get(key=token).delete()
    assert api.get("/api/v1/labels").status_code == 401


def test_an_agent_saved_in_this_process_is_read_again(api, agent, settings):
    settings.API_TOKEN_CACHE_SECONDS = 5
    assert api.get("/api/v1/labels").status_code == 200
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    assert api.get("/api/v1/labels").status_code == 401


def test_each_request_gets_its_own_copy_of_the_cached_agent(agent, token, settings):
    settings.API_TOKEN_CACHE_SECONDS = 5
    auth = CachedTokenAuthentication()
    first, _ = auth.authenticate_credentials(token)
    first.display_name = "changed by a view"
    second, _ = auth.authenticate_credentials(token)
    assert second.pk == agent.pk
    assert second.display_name == "Ana"
    assert second is not first


def test_zero_cache_seconds_reads_the_token_on_every_request(api, agent, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/labels").status_code == 200
        assert any("authtoken_token" in q["sql"] for q in queries.captured_queries)
