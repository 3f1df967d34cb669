"""Typing both ways between a widget visitor's socket and the agent console, in real Chromium
against a real server process (PostgreSQL, Redis)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from websockets.sync.client import connect

from tests.browser.support import chromium, console_server, csp_violations_fail, open_console  # noqa: F401 - fixtures
from tests.widget.conftest import SITE

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def next_frame(ws: Any, wanted: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame.get("type") == wanted:
            return frame


def test_the_agent_sees_the_visitor_typing_and_the_visitor_sees_the_agent_typing(
    chromium,  # noqa: F811 - the fixture imported above
    console_server,  # noqa: F811
    widget_inbox,
    agent,
):
    session = requests.post(
        console_server.url + "/widget/api/session",
        json={"inbox": widget_inbox.key, "name": "Jo"},
        headers={"Origin": SITE},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    token = session.json()["token"]
    socket_url = console_server.url.replace("http://", "ws://") + f"/ws/widget/?inbox={widget_inbox.key}&token={token}"
    ana = open_console(chromium, console_server, "ana")
    try:
        with connect(socket_url, origin=SITE) as visitor:  # type: ignore[arg-type]
            assert next_frame(visitor, "hello")["visitor"].startswith("v_")
            visitor.send(json.dumps({"action": "send", "client_id": "t-1", "text": "Is anyone there?"}))
            next_frame(visitor, "ack")
            ana.page.locator("#conv-list li", has_text="Is anyone there?").click()
            ana.page.locator("#timeline li.msg.in", has_text="Is anyone there?").wait_for()

            # Typing is ephemeral (never logged): a visitor's widget repeats it while they type,
            # and so does this one, at the server's pace (one every 2 s).
            shown = ana.page.locator("#typing").filter(has_text="The customer is typing")
            for _attempt in range(5):
                visitor.send(json.dumps({"action": "typing", "active": True}))
                try:
                    shown.wait_for(timeout=2500)
                    break
                except PlaywrightTimeout:
                    continue
            assert shown.is_visible(), ana.page.locator("#typing").inner_text()

            ana.page.fill("#composer-text", "Let me check")
            frame = next_frame(visitor, "typing")
            assert frame["data"] == {"agent": {"name": "Ana"}, "active": True}
            assert ana.errors == []
    finally:
        ana.context.close()
