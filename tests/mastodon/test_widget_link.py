"""A customer signed in on the host site starts the link from the chat widget, then sends the code
privately from Mastodon: the account joins the contact the site vouched for."""

from __future__ import annotations

import pytest

from apps.contacts.models import Identity
from apps.linking.models import LinkCode
from tests.widget.conftest import sign, widget, widget_inbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_signed_in_visitor_gets_a_code_and_the_dm_links_the_account(widget, mastodon_server, md_account, take):  # noqa: F811
    session = widget.session(user_id="kim-7", user_hash=sign("kim-7"))
    assert session.status_code == 200 and session.json()["social_links"] is True
    response = widget.http.post("/widget/api/link", {}, content_type="application/json", **widget.headers())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["send_to"] == ["@support@127.0.0.1"]
    assert body["code"] in body["instructions"] and "direct (private) message" in body["instructions"]
    mastodon_server.post_mention(f"@support {body['code']}", visibility="direct")
    take()
    kim = Identity.objects.get(kind=Identity.Kind.USER_ID, address="kim-7")
    assert Identity.objects.get(kind="mastodon").contact_id == kim.contact_id
    assert LinkCode.objects.get().state == LinkCode.State.USED


def test_an_anonymous_visitor_cannot_start_a_link(widget):  # noqa: F811
    session = widget.session()
    assert session.status_code == 200 and session.json()["social_links"] is False
    response = widget.http.post("/widget/api/link", {}, content_type="application/json", **widget.headers())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "sign_in_required"
    assert LinkCode.objects.count() == 0


def test_the_widgets_link_codes_are_rate_limited_too(widget, settings):  # noqa: F811
    settings.LINK_STARTS_PER_HOUR = 1
    widget.session(user_id="kim-8", user_hash=sign("kim-8"))
    assert (
        widget.http.post("/widget/api/link", {}, content_type="application/json", **widget.headers()).status_code == 201
    )
    again = widget.http.post("/widget/api/link", {}, content_type="application/json", **widget.headers())
    assert again.status_code == 429 and again.json()["error"]["code"] == "rate_limited"
