"""WhatsApp templates: read from Twilio's Content API (the local fake), listed, and sent with
ContentSid + ContentVariables; their rendered text is the message in the timeline."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from apps.bus.models import OutboxEntry
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.core.errors import InvalidInput, ProviderUnavailable
from apps.whatsapp.models import WhatsAppTemplate
from apps.whatsapp.services import whatsapp_templates_sync, whatsapp_templates_sync_due
from tests.conftest import row_counts

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_TEXT = "Hi {{1}}, your order {{2}} has shipped. Reply here if you have questions."


@pytest.fixture
def templates(twilio_server):
    """Two approved templates and one still pending at WhatsApp, synced."""
    order = twilio_server.add_content("Order shipped", ORDER_TEXT, variables={"1": "Customer", "2": "#0000"})
    followup = twilio_server.add_content("Follow up", "Hello! Do you still need help with your request?")
    pending = twilio_server.add_content("Promo", "Big sale on {{1}}", variables={"1": "routers"}, approval="pending")
    whatsapp_templates_sync()
    return {"order": order, "followup": followup, "pending": pending}


def _send_template(api, conversation_id: int, sid: str, variables: dict | None = None, **extra):
    payload = {"template": sid, "client_id": extra.pop("client_id", "t-1"), **extra}
    if variables is not None:
        payload["variables"] = variables
    return api.post(f"/api/v1/conversations/{conversation_id}/messages", payload, format="json")


def test_sync_stores_every_template_with_its_variables_and_approval(templates, twilio_server):
    stored = {t.sid: t for t in WhatsAppTemplate.objects.all()}
    assert set(stored) == set(templates.values())
    order = stored[templates["order"]]
    assert (order.friendly_name, order.language, order.body) == ("Order shipped", "en", ORDER_TEXT)
    assert order.variables == {"1": "Customer", "2": "#0000"}
    assert order.approval == "approved" and order.approved
    assert stored[templates["pending"]].approval == "pending"
    [get] = [g for g in twilio_server.gets() if g.path.startswith("/v1/")]
    assert get.path == "/v1/ContentAndApprovals"
    assert get.auth == (twilio_server.account_sid, "test-auth-token")


def test_sync_follows_the_content_apis_pages(twilio_server, settings):
    sids = {twilio_server.add_content(f"T{n}", f"text {n}") for n in range(105)}
    result = whatsapp_templates_sync()
    assert (result.created, result.updated, result.removed) == (105, 0, 0)
    assert set(WhatsAppTemplate.objects.values_list("sid", flat=True)) == sids
    pages = [g for g in twilio_server.gets() if g.path == "/v1/ContentAndApprovals"]
    assert len(pages) == 2


def test_resync_updates_changed_templates_and_drops_deleted_ones(templates, twilio_server):
    twilio_server.content_approvals[templates["pending"]] = "approved"
    del twilio_server.contents[templates["followup"]]
    result = whatsapp_templates_sync()
    assert (result.created, result.updated, result.removed) == (0, 2, 1)
    assert WhatsAppTemplate.objects.get(sid=templates["pending"]).approved
    assert not WhatsAppTemplate.objects.filter(sid=templates["followup"]).exists()


def test_templates_api_lists_them_with_their_variables(api, templates):
    response = api.get("/api/v1/whatsapp/templates")
    assert response.status_code == 200
    by_sid = {t["sid"]: t for t in response.json()["results"]}
    order = by_sid[templates["order"]]
    assert order["name"] == "Order shipped"
    assert order["body"] == ORDER_TEXT
    assert order["variables"] == [{"name": "1", "sample": "Customer"}, {"name": "2", "sample": "#0000"}]
    assert (order["approval"], order["approved"]) == ("approved", True)
    assert by_sid[templates["pending"]]["approved"] is False


def test_sync_on_demand_through_the_api(api, twilio_server):
    twilio_server.add_content("Welcome", "Welcome {{1}}", variables={"1": "friend"})
    response = api.post("/api/v1/whatsapp/templates/sync")
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["removed"]) == (1, 0, 0)
    assert [t["name"] for t in body["results"]] == ["Welcome"]


def test_sync_when_twilio_cannot_be_read_keeps_what_was_stored(api, templates, twilio_server):
    twilio_server.auth_token = "rotated-elsewhere"  # Twilio now refuses our credentials
    response = api.post("/api/v1/whatsapp/templates/sync")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "templates_unavailable"
    assert WhatsAppTemplate.objects.count() == 3


def test_sync_without_a_twilio_account_says_so(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ProviderUnavailable) as refused:
        whatsapp_templates_sync()
    assert refused.value.code == "twilio_not_configured"


def test_the_bus_sweep_syncs_once_per_period(twilio_server, settings):
    settings.WHATSAPP_TEMPLATES_SYNC_SECONDS = 3600
    cache.delete("whatsapp:templates:synced")
    twilio_server.add_content("Welcome", "Welcome!")
    assert whatsapp_templates_sync_due() == "synced 1"
    assert whatsapp_templates_sync_due() == "not due"
    assert len([g for g in twilio_server.gets() if g.path.startswith("/v1/")]) == 1
    cache.delete("whatsapp:templates:synced")  # the period is over
    assert whatsapp_templates_sync_due() == "synced 1"


def test_the_sweep_is_registered_with_the_bus():
    from apps.bus import registry

    assert "whatsapp_templates" in {sweep.name for sweep in registry.sweeps()}


def test_template_outside_the_window_goes_with_content_sid_and_variables(
    api, templates, receive_whatsapp, twilio_server
):
    inbound = receive_whatsapp(hours_ago=40)
    response = _send_template(api, inbound.conversation_id, templates["order"], {"1": "Jane", "2": "#123"})
    assert response.status_code == 201, response.content
    [post] = twilio_server.message_posts()
    assert post.field("ContentSid") == templates["order"]
    assert json.loads(post.field("ContentVariables")) == {"1": "Jane", "2": "#123"}
    assert "Body" not in post.form and "MediaUrl" not in post.form
    assert (post.field("To"), post.field("From")) == ("whatsapp:+14155552671", "whatsapp:+15005550006")
    message = Message.objects.get(pk=response.json()["id"])
    rendered = "Hi Jane, your order #123 has shipped. Reply here if you have questions."
    assert message.body == rendered
    assert twilio_server.messages[message.provider_id]["body"] == rendered
    assert message.meta["template"] == {
        "sid": templates["order"],
        "name": "Order shipped",
        "variables": {"1": "Jane", "2": "#123"},
    }
    assert response.json()["body"] == rendered


def test_template_without_variables(api, templates, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=40)
    response = _send_template(api, inbound.conversation_id, templates["followup"])
    assert response.status_code == 201
    [post] = twilio_server.message_posts()
    assert post.field("ContentSid") == templates["followup"]
    assert "ContentVariables" not in post.form


def test_unapproved_template_is_refused_outside_the_window(api, templates, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=40)
    before = row_counts()
    response = _send_template(api, inbound.conversation_id, templates["pending"], {"1": "modems"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reply_window_closed"
    assert "not approved by WhatsApp (pending)" in response.json()["error"]["message"]
    assert row_counts() == before
    assert twilio_server.message_posts() == []


def test_unapproved_template_goes_inside_the_window(agent, templates, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp(hours_ago=1)
    message, _ = message_send(
        conversation_id=inbound.conversation_id,
        agent=agent,
        body="",
        template={"sid": templates["pending"], "variables": {"1": "modems"}},
    )
    assert message.body == "Big sale on modems"
    [post] = twilio_server.message_posts()
    assert post.field("ContentSid") == templates["pending"]


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"1": "Jane"}, "needs a value for {{2}}"),
        ({"1": "Jane", "2": " "}, "needs a value for {{2}}"),
        ({"1": "Jane", "2": "#1", "3": "x"}, "has no variable 3"),
    ],
)
def test_template_with_wrong_variables_is_refused(agent, templates, receive_whatsapp, twilio_server, variables, words):
    inbound = receive_whatsapp(hours_ago=40)
    before = row_counts()
    with pytest.raises(InvalidInput) as refused:
        message_send(
            conversation_id=inbound.conversation_id,
            agent=agent,
            body="",
            template={"sid": templates["order"], "variables": variables},
        )
    assert refused.value.code == "invalid_template_variables"
    assert words in refused.value.message
    assert row_counts() == before
    assert twilio_server.message_posts() == []


def test_unknown_template_is_refused(api, receive_whatsapp, twilio_server):
    inbound = receive_whatsapp()
    response = _send_template(api, inbound.conversation_id, "HX" + "0" * 32)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_template"
    assert OutboxEntry.objects.count() == 0


def test_a_template_on_sms_is_refused(api, templates, receive_sms):
    sms = receive_sms()
    response = _send_template(api, sms.conversation_id, templates["followup"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "templates_not_supported"
    assert Message.objects.filter(direction="out").count() == 0


def test_63016_on_a_status_callback_is_explained_in_words(agent, receive_whatsapp, twilio_server, post_twilio):
    inbound = receive_whatsapp(hours_ago=23.99)
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Late answer")
    reply.refresh_from_db()
    params = twilio_server.status_callback_params(reply.provider_id, "failed", "63016")
    assert post_twilio("/webhooks/twilio/status", **params).status_code == 200
    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == ("failed", "63016")
    assert reply.error_message == (
        "Outside WhatsApp's 24-hour window: the customer last wrote more than 24 hours ago, "
        "so WhatsApp only takes an approved template. Send a template instead."
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("63015", "has not joined the sandbox"),
        ("63018", "rate limit"),
        ("63020", "has not accepted the invitation"),
        ("63024", "not a valid WhatsApp user"),
        ("63032", "WhatsApp experiment"),
    ],
)
def test_whatsapp_errors_are_explained_in_words(agent, receive_whatsapp, twilio_server, post_twilio, code, words):
    inbound = receive_whatsapp()
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="Hi")
    reply.refresh_from_db()
    params = twilio_server.status_callback_params(reply.provider_id, "undelivered", code)
    assert post_twilio("/webhooks/twilio/status", **params).status_code == 200
    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == ("undelivered", code)
    assert words in reply.error_message


def test_template_refused_with_files(agent, templates, receive_whatsapp):
    from apps.conversations.services import FileUpload

    inbound = receive_whatsapp(hours_ago=1)
    with pytest.raises(InvalidInput) as refused:
        message_send(
            conversation_id=inbound.conversation_id,
            agent=agent,
            body="",
            template={"sid": templates["followup"]},
            attachments=[FileUpload("a.jpg", "image/jpeg", b"\xff\xd8\xff\xe0jpeg")],
        )
    assert refused.value.code == "template_with_files"
    assert Message.objects.filter(direction="out").count() == 0
