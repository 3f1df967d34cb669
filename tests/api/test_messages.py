"""POST /api/v1/conversations/<id>/messages: replies, idempotency, validation, visibility."""

from __future__ import annotations

import json

import pytest

from apps.bus.models import OutboxEntry
from apps.conversations.models import Message
from apps.gateways.models import LocalOutboxSend
from tests.conftest import twilio_params
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db(transaction=True)


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages"


def test_reply_with_the_same_client_id_twice_is_sent_once(api, agent, conversation):
    first = api.post(url(conversation), {"body": "On it!", "client_id": "r-1"}, format="json")
    again = api.post(url(conversation), {"body": "On it!", "client_id": "r-1"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    message = Message.objects.get(direction="out")
    assert message.pk == first.json()["id"]
    assert (message.body, message.client_id, message.sender_id, message.seq) == ("On it!", "r-1", agent.pk, 2)
    assert OutboxEntry.objects.count() == 1
    sent = LocalOutboxSend.objects.get()  # no Twilio credentials in tests: the local outbox
    assert (sent.to, sent.body) == ("+14155552671", "On it!")
    assert Message.objects.get(pk=message.pk).status == "delivered"


def test_reply_without_client_id_is_refused_so_a_retry_cannot_double_it(api, conversation):
    response = api.post(url(conversation), {"body": "one"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "client_id" in response.json()["error"]["fields"]
    assert not Message.objects.filter(direction="out").exists()
    assert OutboxEntry.objects.count() == 0


def test_note_is_stored_and_not_sent(api, conversation):
    response = api.post(url(conversation), {"body": "VIP customer", "kind": "note", "client_id": "n-1"}, format="json")
    assert response.status_code == 201
    assert response.json()["kind"] == "note"
    assert OutboxEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"body": "", "client_id": "c"}, "invalid", "body"),
        ({"client_id": "c"}, "invalid", "body"),
        ({"body": "x" * 10_001, "client_id": "c"}, "invalid", "body"),
        ({"body": "hi", "client_id": "x" * 65}, "invalid", "client_id"),
        ({"body": "hi"}, "invalid", "client_id"),
        ({"body": "hi", "client_id": "c", "kind": "activity"}, "invalid", "kind"),
    ],
)
def test_invalid_reply_gets_400_with_a_code(api, conversation, payload, code, field):
    response = api.post(url(conversation), payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == code
    assert list(body["error"]["fields"]) == [field]
    assert Message.objects.filter(direction="out").count() == 0


def test_blank_reply_gets_400_empty_message(api, conversation):
    response = api.post(url(conversation), {"body": "   \n", "client_id": "c"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "empty_message", "message": "the message is empty"}}


def test_malformed_json_gets_400(api, conversation):
    response = api.post(url(conversation), data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_oversized_request_body_gets_400_payload_too_large(api, conversation):
    body = json.dumps({"body": "x" * (300 * 1024)})
    response = api.post(url(conversation), data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Message.objects.filter(direction="out").count() == 0


def test_oversized_body_beyond_djangos_upload_limit_gets_400_payload_too_large(api, conversation, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100 * 1024
    body = json.dumps({"body": "x" * (150 * 1024)})
    response = api.post(url(conversation), data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_too_large"


def test_reply_to_an_opted_out_customer_gets_409(api, post_twilio, conversation):
    assert post_twilio(**twilio_params(From="+14155552671", Body="STOP")).status_code == 200
    response = api.post(url(conversation), {"body": "hello?", "client_id": "r-9"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "recipient_opted_out"


def test_conversation_of_another_inbox_is_404(api, post_twilio, agent):
    InboxFactory(address="+15005550099")
    assert post_twilio(**twilio_params(To="+15005550099", Body="elsewhere")).status_code == 200
    from apps.conversations.models import Conversation

    other = Conversation.objects.get()
    not_found = {"error": {"code": "not_found", "message": "not found"}}
    for response in (
        api.post(url(other), {"body": "hi", "client_id": "x"}, format="json"),
        api.get(url(other)),
        api.get(f"/api/v1/conversations/{other.pk}"),
        api.patch(f"/api/v1/conversations/{other.pk}", {"status": "resolved"}, format="json"),
        api.get(f"/api/v1/contacts/{other.contact_id}/timeline"),
        api.get(f"/api/v1/contacts/{other.contact_id}"),
    ):
        assert response.status_code == 404
        assert response.json() == not_found
    assert Message.objects.filter(direction="out").count() == 0
    assert Conversation.objects.get().status == "open"


def test_list_messages_after_seq(api, conversation):
    api.post(url(conversation), {"body": "reply", "client_id": "a"}, format="json")
    response = api.get(url(conversation) + "?after_seq=1")
    assert response.status_code == 200
    assert [(m["seq"], m["body"]) for m in response.json()["results"]] == [(2, "reply")]
