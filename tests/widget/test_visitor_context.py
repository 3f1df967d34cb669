"""Agents see a widget visitor as a person (issue 10, the console's second pass): "Visitor 12"
or the name they gave, never the raw public id, with where they started (page, browser, local
time zone) on the contact the console shows."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.widget.context import browser_label
from apps.widget.models import Visitor
from tests.factories import ConversationFactory, IdentityFactory

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def api(agent) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_anonymous_visitor_is_named_visitor_n_never_its_public_id(widget):
    assert widget.session().status_code == 200
    visitor = Visitor.objects.get()
    assert visitor.identity.display == f"Visitor {visitor.pk}"
    assert visitor.public_id not in visitor.identity.display


def test_a_visitor_who_gives_a_name_is_shown_by_it(widget):
    widget.session()
    visitor = Visitor.objects.get()
    widget.session(name="Jo Bloggs")
    visitor.identity.refresh_from_db()
    assert visitor.identity.display == "Jo Bloggs"


def test_starting_page_browser_and_time_zone_reach_the_contact(widget, api):
    response = widget.http.post(
        "/widget/api/session",
        {"inbox": widget.inbox.key, "page": "https://shop.example.com/pricing?plan=pro", "time_zone": "Europe/Lisbon"},
        content_type="application/json",
        HTTP_USER_AGENT=FIREFOX_WINDOWS,
        **widget.headers(),
    )
    assert response.status_code == 200
    widget.token = response.json()["token"]
    assert widget.send("Hello?", "c-1").status_code == 201  # a conversation: the agent may see the contact
    visitor = Visitor.objects.get()
    contact = api.get(f"/api/v1/contacts/{visitor.identity.contact_id}").json()
    [identity] = contact["identities"]
    assert identity["display"] == f"Visitor {visitor.pk}"
    context = identity["visitor"]
    assert context["label"] == f"Visitor {visitor.pk}"
    assert context["page"] == "https://shop.example.com/pricing?plan=pro"
    assert context["browser"] == "Firefox 128 on Windows"
    assert context["time_zone"] == "Europe/Lisbon"
    assert context["started_at"] and context["verified"] is False


def test_a_page_that_is_not_http_and_a_zone_that_is_not_a_name_are_dropped(widget):
    widget.session(page="javascript:alert(1)", time_zone="<script>")
    visitor = Visitor.objects.get()
    assert (visitor.page_url, visitor.time_zone) == ("", "")


def test_other_channels_carry_no_visitor_context(api, agent, sms_inbox):
    identity = IdentityFactory()
    ConversationFactory(inbox=sms_inbox, contact=identity.contact)
    contact = api.get(f"/api/v1/contacts/{identity.contact_id}").json()
    assert contact["identities"] and all(i["visitor"] is None for i in contact["identities"])


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX_WINDOWS, "Firefox 128 on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome 124 on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            "Edge 124 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Safari 17 on iOS",
        ),
        ("curl/8.5.0", ""),
    ],
)
def test_browser_label(user_agent, label):
    assert browser_label(user_agent) == label
