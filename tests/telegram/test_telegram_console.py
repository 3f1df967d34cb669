"""The console with a Telegram conversation, in real Chromium against a live server: the
Telegram badge, "Reply on" the contact's Telegram identity, and the reply shown delivered."""

from __future__ import annotations

import pytest
import requests

from tests.browser.support import open_console, require_browser
from tests.servers import start_server, stop_server
from tests.telegram.conftest import CHAT_ID, SECRET, update

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_telegram_conversation_is_badged_and_answered_on_telegram(
    chromium, tg_bot, tg_agent, telegram_server, tmp_path
):
    require_browser()
    server = start_server(tmp_path, TELEGRAM_API_BASE_URL=telegram_server.base_url)
    tara = None
    try:
        tara = open_console(chromium, server, "tara")
        u = update({"text": "Where is my parcel? (Telegram)"})
        answer = requests.post(
            f"{server.url}/webhooks/telegram/{tg_bot.inbox.key}",
            json=u,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=10,
        )
        assert answer.status_code == 200
        page = tara.page
        item = page.locator("#conv-list li", has_text="Where is my parcel?")
        item.wait_for()
        assert item.locator(".channel-badge").inner_text().strip().lower() == "telegram"
        item.click()
        page.locator("#timeline li.msg.in", has_text="Where is my parcel?").wait_for()
        options = page.locator("#reply-channel option").all_inner_texts()
        assert "Telegram: @janedoe" in options
        page.select_option("#reply-channel", label="Telegram: @janedoe")
        page.fill("#composer-text", "It left the warehouse today")
        page.keyboard.press("Enter")
        tick = page.locator("#timeline li.msg.out", has_text="It left the warehouse today").locator(
            ".tick[data-status=delivered]"
        )
        tick.wait_for()
        [call] = telegram_server.calls_of("sendMessage")
        assert call.params == {"chat_id": str(CHAT_ID), "text": "It left the warehouse today"}
        assert tara.errors == []
    finally:
        if tara is not None:
            tara.context.close()
        stop_server(server)
