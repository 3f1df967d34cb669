"""Triage in the console, as agents use it: the Noise view and its count, the verdict and its
reason, and the one-click Actionable / Not actionable toggle, live in a colleague's console."""

from __future__ import annotations

import uuid

import pytest

from apps.conversations.models import Conversation
from apps.triage.models import TriageLabel
from apps.triage.services import rule_create
from tests.browser.support import open_console, screenshot, wait_for_js
from tests.conftest import twilio_params

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"


def test_an_agent_moves_a_conversation_out_of_noise_with_one_click_and_a_colleague_sees_it_live(
    chromium, console_server, sms_inbox, agent, other_agent
):
    # Before the server's first message: its process loads the rules then.
    rule_create(by=None, name="Thanks only", keywords=["thanks"], category="praise")
    tag = uuid.uuid4().hex[:6]
    praise, problem = f"thanks, all good {tag}", f"My router is down {tag}"
    console_server.post_twilio(WEBHOOK, twilio_params(From="+14155550101", Body=praise))
    console_server.post_twilio(WEBHOOK, twilio_params(From="+14155550102", Body=problem))
    ana = open_console(chromium, console_server, "ana")
    ben = open_console(chromium, console_server, "ben")
    try:
        page = ana.page
        # The queue shows the problem, not the praise; the Noise tab counts the praise.
        page.locator("#conv-list li", has_text=problem).wait_for()
        assert page.locator("#conv-list li", has_text=praise).count() == 0
        page.locator("#views button[data-view=noise] .view-count", has_text="1").wait_for()

        for console in (ana, ben):
            console.page.click("#views button[data-view=noise]")
            console.page.locator("#conv-list li", has_text=praise).wait_for()
        page.locator("#conv-list li", has_text=praise).click()
        page.locator("#triage-verdict[data-verdict=noise]", has_text="Not actionable").wait_for()
        page.locator("#triage-reason", has_text="Rule “Thanks only” matched “thanks”").wait_for()
        chip = page.locator("#timeline li.msg.in", has_text=praise).locator(".triage-chip")
        assert chip.inner_text() == "Noise · praise"
        assert chip.get_attribute("title") == "Rule “Thanks only” matched “thanks”"
        screenshot(page, "triage-noise")

        page.click("#triage-btn")

        page.locator("#triage-verdict[data-verdict=actionable]", has_text="Actionable").wait_for()
        page.locator("#triage-reason", has_text="Marked actionable by Ana").wait_for()
        page.locator("#timeline li.activity", has_text="Ana marked this actionable").wait_for()
        wait_for_js(page, "!document.querySelector('#views button[data-view=noise] .view-count') || "
                    "document.querySelector('#views button[data-view=noise] .view-count').textContent === '0'")
        assert page.locator("#conv-list li", has_text=praise).count() == 0
        # Ben's Noise view drops it live; his queue has it.
        ben.page.locator("#conv-list li", has_text=praise).wait_for(state="detached")
        ben.page.click("#views button[data-view=all]")
        ben.page.locator("#conv-list li", has_text=praise).wait_for()
        screenshot(page, "triage-actionable")

        # And back: the toggle is the same button, now "Mark not actionable".
        assert page.locator("#triage-btn").inner_text() == "Mark not actionable"
        page.click("#triage-btn")
        page.locator("#triage-verdict[data-verdict=noise]").wait_for()
        ben.page.locator("#conv-list li", has_text=praise).wait_for(state="detached")

        conversation = Conversation.objects.get(contact__identities__address="+14155550101")
        assert conversation.noise is True
        assert list(TriageLabel.objects.values_list("actionable", "by__username")) == [(False, "ana")]
        assert ana.errors == [] and ben.errors == []
        assert ana.dialogs == [] and ben.dialogs == []
    finally:
        ana.context.close()
        ben.context.close()
