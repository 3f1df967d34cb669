"""WhatsApp's 24-hour customer-service window: shown, and enforced before anything is queued."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import OutboxEntry
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.core.errors import ReplyWindowClosed
from apps.whatsapp.services import whatsapp_window
from tests.conftest import row_counts

pytestmark = pytest.mark.django_db(transaction=True)


def _window(api, message, **query):
    response = api.get(f"/api/v1/conversations/{message.conversation_id}/whatsapp-window", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_window_is_open_for_24_hours_from_the_last_inbound_message(api, receive_whatsapp):
    inbound = receive_whatsapp(hours_ago=3)
    data = _window(api, inbound)
    assert data["identity"] == inbound.identity_id
    assert data["channel"] == "whatsapp"
    window = data["window"]
    assert window["state"] == "open"
    assert dt.datetime.fromisoformat(window["last_inbound_at"]) == inbound.created_at
    assert dt.datetime.fromisoformat(window["closes_at"]) == inbound.created_at + dt.timedelta(hours=24)
    assert 20 * 3600 - 60 <= window["seconds_left"] <= 21 * 3600


def test_window_is_closed_after_24_hours_and_a_new_message_opens_it_again(api, receive_whatsapp):
    old = receive_whatsapp(hours_ago=25)
    assert _window(api, old)["window"]["state"] == "closed"
    assert _window(api, old)["window"]["seconds_left"] == 0
    receive_whatsapp("Hello again")
    window = _window(api, old)["window"]
    assert window["state"] == "open"
    assert 24 * 3600 - 60 <= window["seconds_left"] <= 24 * 3600


def test_window_closes_in_minutes_near_the_end(receive_whatsapp):
    inbound = receive_whatsapp(hours_ago=23.5)
    window = whatsapp_window(identity_id=inbound.identity_id, inbox_id=inbound.inbox_id)
    assert window.state == "open"
    left = window.data()["seconds_left"]
    assert 29 * 60 <= left <= 30 * 60


def test_an_agents_own_replies_do_not_open_the_window(agent, receive_whatsapp):
    inbound = receive_whatsapp(hours_ago=23.9)
    message_send(conversation_id=inbound.conversation_id, agent=agent, body="We are on it")
    Message.objects.filter(direction="out").update(created_at=timezone.now())
    window = whatsapp_window(
        identity_id=inbound.identity_id, inbox_id=inbound.inbox_id, now=timezone.now() + dt.timedelta(hours=1)
    )
    assert window.state == "closed"


def test_an_sms_conversation_has_no_window(api, receive_sms):
    sms = receive_sms()
    assert _window(api, sms) == {"identity": sms.identity_id, "channel": "phone", "window": None}


def test_free_form_reply_inside_the_window_goes_out(agent, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=23)
    reply, created = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Here it is")
    assert created
    [post] = twilio_server.message_posts()
    assert post.field("Body") == "Here it is"
    assert post.field("To") == "whatsapp:+14155552671"


def test_free_form_reply_outside_the_window_is_refused_before_queueing(agent, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=26)
    before = row_counts()
    with pytest.raises(ReplyWindowClosed) as refused:
        message_send(conversation_id=inbound.conversation_id, agent=agent, body="Are you still there?")
    assert refused.value.code == "reply_window_closed"
    assert refused.value.message == (
        "WhatsApp's 24-hour reply window with +14155552671 is closed: the customer last wrote 26 hours ago "
        "(the window closed 2 hours ago). WhatsApp only takes an approved template now; pick one from the templates."
    )
    assert row_counts() == before
    assert OutboxEntry.objects.count() == 0
    assert twilio_server.message_posts() == []


def test_api_answers_409_reply_window_closed_with_words(api, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=30)
    before = row_counts()
    response = api.post(
        f"/api/v1/conversations/{inbound.conversation_id}/messages",
        {"body": "Hello?", "client_id": "c-1"},
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "reply_window_closed"
    assert "24-hour reply window" in error["message"] and "template" in error["message"]
    assert row_counts() == before
    assert twilio_server.message_posts() == []


def test_a_note_is_not_held_by_the_window(agent, receive_whatsapp):
    inbound = receive_whatsapp(hours_ago=30)
    note, created = message_send(
        conversation_id=inbound.conversation_id, agent=agent, body="customer went quiet", kind="note"
    )
    assert created and note.kind == "note"
    assert OutboxEntry.objects.count() == 0
