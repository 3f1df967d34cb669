"""The console with WhatsApp's 24-hour window and templates, and media played inline: real
Chromium, a real server process, the local Twilio-compatible server."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from apps.conversations.models import Message
from tests.browser.support import open_console, wait_for_js
from tests.conftest import twilio_params
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"
OGG = b"OggS\x00\x02\x00\x00" + b"\x00" * 400
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 400


@pytest.fixture
def manual_inbox(sms_inbox):
    sms_inbox.auto_assign = False
    sms_inbox.save(update_fields=["auto_assign"])
    return sms_inbox


def _whatsapp(console_server, body: str, *, hours_ago: float = 0) -> Message:
    params = twilio_params(From="whatsapp:+14155552671", To="whatsapp:+15005550006", Body=body, WaId="14155552671")
    console_server.post_twilio(WEBHOOK, params)
    message = wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).first(), timeout=10)
    if hours_ago:
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))
    return message


def test_closed_window_offers_templates_and_refuses_free_text(
    chromium, console_server, twilio_server, manual_inbox, agent
):
    sid = twilio_server.add_content(
        "Order shipped", "Hi {{1}}, your order {{2}} has shipped.", variables={"1": "Customer", "2": "#0000"}
    )
    twilio_server.add_content("Promo", "Sale on {{1}}", variables={"1": "x"}, approval="pending")
    body = f"Order question {uuid.uuid4().hex[:6]}"
    _whatsapp(console_server, body, hours_ago=30)
    ana = open_console(chromium, console_server, "ana")
    try:
        page = ana.page
        page.locator("#conv-list li", has_text=body).click()
        pill = page.locator("#wa-window")
        pill.wait_for()
        assert pill.inner_text() == "WhatsApp window closed"
        assert pill.get_attribute("data-state") == "closed"
        panel = page.locator("#wa-panel")
        panel.wait_for()
        assert "window is closed" in page.locator("#wa-notice").inner_text()

        # A free-form reply is refused with the reason, and nothing reaches Twilio.
        page.fill("#composer-text", "Are you still there?")
        page.keyboard.press("Enter")
        refused = page.locator("#timeline li.pending.failed .tick")
        refused.wait_for()
        assert "24-hour reply window" in refused.inner_text()
        assert twilio_server.message_posts() == []

        # The templates, synced from the Content API; only the approved one is offered.
        page.click("#wa-sync")
        page.locator("#wa-template option", has_text="Order shipped").wait_for(state="attached")
        options = page.locator("#wa-template option").all_inner_texts()
        assert options == ["Order shipped (en)"]
        page.fill("#wa-var-1", "Jane")
        page.fill("#wa-var-2", "#123")
        assert page.locator("#wa-preview").inner_text() == "Hi Jane, your order #123 has shipped."
        page.click("#wa-send")
        sent = page.locator("#timeline li.msg.out", has_text="Hi Jane, your order #123 has shipped.")
        sent.wait_for()
        assert "Template: Order shipped" in sent.locator(".template-badge").inner_text()
        [post] = wait_for(lambda: twilio_server.message_posts() or None, timeout=10)
        assert post.field("ContentSid") == sid
        assert json.loads(post.field("ContentVariables")) == {"1": "Jane", "2": "#123"}
        assert "Body" not in post.form
        assert ana.errors == []
    finally:
        ana.context.close()


def test_open_window_shows_when_it_closes_and_reopens_live(
    chromium, console_server, twilio_server, manual_inbox, agent
):
    body = f"Hello {uuid.uuid4().hex[:6]}"
    _whatsapp(console_server, body, hours_ago=23.5)
    ana = open_console(chromium, console_server, "ana")
    try:
        page = ana.page
        page.locator("#conv-list li", has_text=body).click()
        pill = page.locator("#wa-window")
        pill.wait_for()
        text = pill.inner_text()
        assert text.startswith("WhatsApp window open · closes in ") and text.endswith(" min"), text
        assert pill.get_attribute("data-state") == "closing"
        assert page.locator("#wa-panel").is_hidden()
        # The customer writes again: the window is 24 hours long again.
        again = f"Still there? {uuid.uuid4().hex[:6]}"
        _whatsapp(console_server, again)
        page.locator("#timeline li.msg.in", has_text=again).wait_for()
        wait_for_js(page, "document.getElementById('wa-window').textContent.includes('closes in 23 h')")
        assert pill.get_attribute("data-state") == "open"
    finally:
        ana.context.close()


def test_voice_notes_and_videos_play_inline(chromium, console_server, twilio_server, manual_inbox, agent):
    audio = twilio_server.add_media(OGG, "audio/ogg")
    video = twilio_server.add_media(MP4, "video/mp4")
    body = f"Listen {uuid.uuid4().hex[:6]}"
    console_server.post_twilio(
        WEBHOOK,
        twilio_params(
            Body=body,
            NumMedia="2",
            MediaUrl0=audio,
            MediaContentType0="audio/ogg",
            MediaUrl1=video,
            MediaContentType1="video/mp4",
        ),
    )
    ana = open_console(chromium, console_server, "ana")
    try:
        page = ana.page
        page.locator("#conv-list li", has_text=body).click()
        message = page.locator("#timeline li.msg.in", has_text=body)
        message.locator("audio[controls]").wait_for()
        message.locator("video[controls]").wait_for()
        src = message.locator("audio").get_attribute("src")
        assert src.startswith("/api/v1/attachments/")
        fetched = page.evaluate(
            "async (src) => { const r = await fetch(src); return [r.status, r.headers.get('content-type')]; }", src
        )
        assert fetched == [200, "audio/ogg"]
    finally:
        ana.context.close()
