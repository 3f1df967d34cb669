"""The console with Mastodon, in real Chromium against a live server that follows the local
instance's stream: a public mention arrives live with its badges, the agent chooses a private
answer seeing exactly what goes out, and links a second account with a one-time code."""

from __future__ import annotations

import re

import pytest

from apps.contacts.models import Identity
from apps.contacts.services import identity_resolve
from tests.browser.support import open_console, require_browser, screenshot
from tests.factories import ConversationFactory
from tests.servers import start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_public_mention_is_answered_privately_and_an_account_is_linked(
    chromium, md_account, md_agent, mastodon_server, tmp_path
):
    require_browser()
    # A conversation of the same inbox whose reply goes out by SMS: no Mastodon choice there.
    phone = identity_resolve(kind="phone", address="+14155550177", verified=True, name="Sam Phone")
    ConversationFactory(inbox=md_account.inbox, contact=phone.contact, last_identity=phone)
    server = start_server(tmp_path)
    mona = None
    try:
        mona = open_console(chromium, server, "mona")
        page = mona.page
        # The server's listener connects to the instance's stream.
        deadline_ok = _wait_streams(mastodon_server)
        assert deadline_ok, server.log()[-3000:]
        assert "Mastodon inboxes are followed live" in server.log()
        page.locator("#conv-list li", has_text="Sam Phone").click()
        page.locator("#conv-title", has_text="Sam Phone").wait_for()
        page.locator("#social-links").wait_for()  # the desk has a Mastodon inbox
        page.wait_for_timeout(300)  # the composer's question to the server has been answered
        assert page.locator("#md-audience").is_hidden()
        mastodon_server.post_mention("@support is checkout down for everyone?", visibility="unlisted")
        item = page.locator("#conv-list li", has_text="is checkout down")
        item.wait_for()
        item.click()
        message = page.locator("#timeline li.msg.in", has_text="is checkout down")
        message.wait_for()
        assert message.locator(".md-badge").all_inner_texts() == ["Public mention (unlisted)", "Not a known customer"]
        # The composer offers the choice, defaulting to the way the customer wrote (public).
        page.locator("#md-audience").wait_for()
        assert page.is_checked("#md-public")
        page.fill("#composer-text", "We are looking into it")
        preview = page.locator("#md-preview")
        assert preview.inner_text().startswith("Anyone (unlisted")
        assert preview.inner_text().endswith("will see: @jane@example.social We are looking into it")
        page.check("#md-private")
        assert re.match(r"Only @jane@example\.social will see this direct message", preview.inner_text())
        screenshot(page, "mastodon-composer")
        page.focus("#composer-text")
        page.keyboard.press("Enter")
        reply = page.locator("#timeline li.msg.out", has_text="We are looking into it")
        reply.locator(".tick[data-status=delivered]").wait_for()
        assert reply.locator(".md-badge").inner_text() == "Private reply"
        [call] = mastodon_server.calls_to("POST", "/api/v1/statuses")
        assert call.params["visibility"] == ["direct"]
        assert call.params["status"] == ["@jane@example.social We are looking into it"]

        # Link her second account: the code is shown once, she sends it privately from there.
        page.click("#social-link-start")
        code = page.locator(".social-code-value code").inner_text()
        assert re.fullmatch(r"LINK-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
        assert "direct (private) message" in page.locator("#social-code").inner_text()
        mastodon_server.post_mention(
            f"@support {code}", visibility="direct", account_id="444", acct="jane@other.example"
        )
        linked = page.locator("#social-accounts li", has_text="@jane@other.example")
        linked.wait_for()
        assert linked.locator("button.link-undo").is_visible()
        screenshot(page, "mastodon-linked-accounts")
        assert Identity.objects.get(kind="mastodon", address__startswith="444@").contact_id == (
            Identity.objects.get(kind="mastodon", address__startswith="109@").contact_id
        )
        linked.locator("button.link-undo").click()
        page.locator("#social-accounts li", has_text="@jane@other.example").wait_for(state="detached")
        assert mona.errors == []
    finally:
        if mona is not None:
            mona.context.close()
        stop_server(server)


def _wait_streams(server, timeout: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.connected_streams() >= 1:
            return True
        time.sleep(0.1)
    return False
