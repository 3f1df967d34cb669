"""An XMPP conversation in the console, as an agent has it: real Chromium, a real server
process, run_xmpp (in the test process) and a customer's client on a private prosody."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.browser.support import open_console, screenshot
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_xmpp_customer_is_answered_from_the_console_with_typing_and_delivery(
    chromium, console_server, xmpp_inbox, desk, customer, agent
):
    xmpp_inbox.members.add(agent)
    desk.start().connected()
    ana = open_console(chromium, console_server, "ana")
    try:
        body = f"Where is my parcel? {uuid.uuid4().hex[:6]}"
        customer.send(xmpp_inbox.address, body)
        item = ana.page.locator("#conv-list li", has_text=body)
        item.wait_for()
        assert item.locator(".channel-badge").inner_text().upper() == "XMPP"
        item.click()
        incoming = ana.page.locator("#timeline li.msg.in", has_text=body)
        incoming.wait_for()
        assert incoming.locator(".channel-badge").inner_text().upper() == "XMPP"
        options = ana.page.locator("#reply-channel option").all_inner_texts()
        assert f"XMPP: {customer.jid}" in options

        # The customer types: the agent sees it.
        customer.send(xmpp_inbox.address, state="composing")
        ana.page.locator("#typing", has_text="The customer is typing").wait_for()

        # The agent types: the customer's client gets "composing"; then the reply, once.
        reply = f"It left our warehouse today {uuid.uuid4().hex[:6]}"
        ana.page.click("#composer-text")
        ana.page.keyboard.type(reply)
        wait_for(lambda: (xmpp_inbox.address, "composing") in customer.states, what="composing at the customer")
        ana.page.keyboard.press("Enter")
        wait_for(lambda: any(m["body"] == reply for m in customer.received), what="the reply at the customer")
        sent = ana.page.locator("#timeline li.msg.out", has_text=reply)
        sent.locator(".tick[data-status=sent]").wait_for()

        # The customer's client acknowledges it: delivered.
        [stanza] = [m for m in customer.received if m["body"] == reply]
        customer.ack(stanza)
        sent.locator(".tick[data-status=delivered]").wait_for()
        time.sleep(0.5)  # anything doubled would have arrived by now
        assert [m["body"] for m in customer.received].count(reply) == 1
        screenshot(ana.page, "xmpp-conversation-delivered")
        assert ana.dialogs == [] and ana.errors == []
    finally:
        ana.context.close()
