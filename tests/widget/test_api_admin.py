"""Admin API: user_id identities on contacts, and GET/PATCH /api/v1/inboxes/<id>/widget."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.contacts.models import Identity
from apps.conversations.models import Conversation
from apps.widget.models import Visitor
from tests.factories import AgentFactory, ConversationFactory, IdentityFactory
from tests.widget.conftest import SECRET, SITE, WidgetClient, sign


def _client(agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def admin(db, widget_inbox, sms_inbox):
    agent = AgentFactory(username="root", display_name="Root", role=Agent.Role.ADMIN)
    widget_inbox.members.add(agent)
    sms_inbox.members.add(agent)
    return agent


@pytest.fixture
def sms_contact(db, sms_inbox):
    """A customer who texted the SMS inbox (so agents of that inbox can see them)."""
    identity = IdentityFactory(kind=Identity.Kind.PHONE, address="+14155550142")
    ConversationFactory(inbox=sms_inbox, contact=identity.contact, last_identity=identity)
    return identity.contact


def test_admin_attaches_a_user_id_and_the_widget_chat_joins_that_contact(admin, sms_contact, widget_inbox):
    response = _client(admin).post(
        f"/api/v1/contacts/{sms_contact.pk}/identities", {"kind": "user_id", "address": "u-42"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "user_id" and response.json()["verified"] is False
    again = _client(admin).post(
        f"/api/v1/contacts/{sms_contact.pk}/identities", {"kind": "user_id", "address": "u-42"}, format="json"
    )
    assert again.status_code == 200

    visitor = WidgetClient(widget_inbox)
    assert visitor.session(user_id="u-42", user_hash=sign("u-42")).status_code == 200
    visitor.send("it's me from the site", "c-1")
    conversation = Conversation.objects.get(inbox=widget_inbox)
    assert conversation.contact_id == sms_contact.pk
    assert Identity.objects.get(kind="user_id", address="u-42").verified is True  # proven by the hash now


def test_an_agent_may_not_attach_a_user_id(agent, sms_contact):
    response = _client(agent).post(
        f"/api/v1/contacts/{sms_contact.pk}/identities", {"kind": "user_id", "address": "u-42"}, format="json"
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_only"
    assert not Identity.objects.filter(kind="user_id").exists()


def test_a_user_id_of_another_contact_is_refused(admin, sms_contact):
    other = IdentityFactory(kind=Identity.Kind.PHONE, address="+14155550143").contact
    Identity.objects.create(contact=other, kind="user_id", address="u-42")
    response = _client(admin).post(
        f"/api/v1/contacts/{sms_contact.pk}/identities", {"kind": "user_id", "address": "u-42"}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "identity_taken"


def test_other_kinds_stay_refused(admin, sms_contact):
    response = _client(admin).post(
        f"/api/v1/contacts/{sms_contact.pk}/identities", {"kind": "widget", "address": "v_x"}, format="json"
    )
    assert response.status_code == 400


def test_get_widget_settings(admin, widget_inbox):
    response = _client(admin).get(f"/api/v1/inboxes/{widget_inbox.pk}/widget")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == widget_inbox.key and body["secret"] == SECRET
    assert body["allowed_origins"] == [SITE, "http://localhost:3000"]
    assert f'data-inbox="{widget_inbox.key}"' in body["embed_snippet"]
    assert "/widget.js" in body["embed_snippet"]


def test_agents_cannot_read_or_change_widget_settings(agent, widget_inbox):
    assert _client(agent).get(f"/api/v1/inboxes/{widget_inbox.pk}/widget").status_code == 403
    response = _client(agent).patch(
        f"/api/v1/inboxes/{widget_inbox.pk}/widget", {"require_identity": True}, format="json"
    )
    assert response.status_code == 403


def test_patch_widget_settings(admin, widget_inbox):
    api = _client(admin)
    response = api.patch(
        f"/api/v1/inboxes/{widget_inbox.pk}/widget",
        {
            "allowed_origins": ["https://new.example.com"],
            "colour": "#112233",
            "greeting": "Hey",
            "business_hours": {"tz": "UTC", "days": {"mon": [["09:00", "17:00"]]}},
            "require_identity": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    widget_inbox.widget.refresh_from_db()
    assert widget_inbox.widget.origins() == ["https://new.example.com"]
    assert widget_inbox.widget.colour == "#112233" and widget_inbox.widget.require_identity
    # The old site is now refused, the new one allowed (and must sign in).
    assert WidgetClient(widget_inbox, origin=SITE).session().status_code == 403
    assert WidgetClient(widget_inbox, origin="https://new.example.com").session().json()["error"]["code"] == (
        "identity_required"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"allowed_origins": ["*"]},
        {"allowed_origins": ["https://shop.example.com/path"]},
        {"allowed_origins": ["shop.example.com"]},
        {"colour": "red"},
        {"business_hours": {"tz": "Nowhere/Else"}},
    ],
)
def test_patch_refuses_bad_settings(admin, widget_inbox, change):
    response = _client(admin).patch(f"/api/v1/inboxes/{widget_inbox.pk}/widget", change, format="json")
    assert response.status_code == 400
    widget_inbox.widget.refresh_from_db()
    assert widget_inbox.widget.origins() == [SITE, "http://localhost:3000"]
    assert widget_inbox.widget.colour == "#1f6feb"


def test_regenerate_secret_invalidates_old_hashes(admin, widget_inbox):
    response = _client(admin).patch(
        f"/api/v1/inboxes/{widget_inbox.pk}/widget", {"regenerate_secret": True}, format="json"
    )
    new_secret = response.json()["secret"]
    assert new_secret != SECRET
    client = WidgetClient(widget_inbox)
    assert client.session(user_id="u1", user_hash=sign("u1")).json()["error"]["code"] == "identity_invalid"
    assert client.session(user_id="u1", user_hash=sign("u1", new_secret)).status_code == 200
    assert Visitor.objects.count() == 1


def test_not_a_widget_inbox(admin, sms_inbox):
    assert _client(admin).get(f"/api/v1/inboxes/{sms_inbox.pk}/widget").status_code == 404
