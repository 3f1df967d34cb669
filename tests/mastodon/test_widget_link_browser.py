"""The widget's "Link your Mastodon account", in real Chromium: a signed-in customer gets the
code in the panel, and the code sent privately from Mastodon links the account."""

from __future__ import annotations

import time

import pytest

from apps.contacts.models import Identity
from tests.browser.support import screenshot
from tests.browser.test_widget import demo_url, desk, inbox, make_inbox, open_widget, sign  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_signed_in_customer_links_their_mastodon_account_from_the_widget(
    chromium,
    md_account,
    mastodon_server,
    desk,  # noqa: F811
    inbox,  # noqa: F811
):
    visitor = open_widget(chromium, demo_url(desk, inbox, user_id="kim-9", user_hash=sign("kim-9"))).mounted()
    try:
        visitor.open()
        visitor.q(".social button").click()
        code = visitor.q(".social code").inner_text()
        assert code.startswith("LINK-")
        assert "direct (private) message" in visitor.q(".social").inner_text()
        screenshot(visitor.page, "widget-mastodon-link")
        mastodon_server.post_mention(code, visibility="direct")
        # The desk's own listener takes it from the stream.
        kim = Identity.objects.get(kind=Identity.Kind.USER_ID, address="kim-9")
        deadline = time.monotonic() + 15
        while not Identity.objects.filter(kind="mastodon", contact_id=kim.contact_id).exists():
            assert time.monotonic() < deadline, desk.log()[-3000:]
            time.sleep(0.1)
        assert visitor.errors == []
    finally:
        visitor.context.close()


def test_an_anonymous_visitor_is_not_offered_a_link(chromium, md_account, desk, inbox):  # noqa: F811
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open()
        assert visitor.q(".social").is_hidden()
    finally:
        visitor.context.close()
