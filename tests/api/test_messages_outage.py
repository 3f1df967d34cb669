"""A reply whose request lost the database part way (a PostgreSQL restart during COMMIT): the
server cannot know whether it committed, so it asks again on a fresh connection. A reply that was
stored is answered 201 — never an error the client would read as "not sent" — and one that was
not is an error the client retries with the same client_id (issue 9, point 5; make chaos counts
"replies stored but answered 5xx")."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError

from apps.api.views import conversations as views
from apps.conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages"


def test_a_reply_that_committed_before_the_connection_died_is_answered_201(api, conversation):
    real = views.message_send

    def committed_then_lost(**kwargs):
        real(**kwargs)
        raise OperationalError("consuming input failed: server closed the connection unexpectedly")

    with mock.patch.object(views, "message_send", side_effect=committed_then_lost):
        response = api.post(url(conversation), {"body": "On it!", "client_id": "o-1"}, format="json")
    assert response.status_code == 201, response.content
    stored = Message.objects.get(client_id="o-1")
    assert response.json()["id"] == stored.pk
    # The client's retry (same client_id) finds the same reply: sent once.
    again = api.post(url(conversation), {"body": "On it!", "client_id": "o-1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == stored.pk
    assert Message.objects.filter(client_id="o-1").count() == 1


def test_a_reply_that_did_not_commit_is_an_error_the_client_retries(api, conversation):
    api.raise_request_exception = False
    with mock.patch.object(views, "message_send", side_effect=OperationalError("the database system is shutting down")):
        response = api.post(url(conversation), {"body": "On it!", "client_id": "o-2"}, format="json")
    assert response.status_code == 500
    assert not Message.objects.filter(client_id="o-2").exists()
    retry = api.post(url(conversation), {"body": "On it!", "client_id": "o-2"}, format="json")
    assert retry.status_code == 201
    assert Message.objects.filter(client_id="o-2").count() == 1
