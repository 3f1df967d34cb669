"""Triage in the console, as agents use it: the Noise view and its count, the verdict and its
reason, and the one-click Actionable / Not actionable toggle, live in a colleague's console."""

from __future__ import annotations

import uuid

import pytest

from apps.accounts.models import Agent
from apps.conversations.models import Conversation
from apps.triage.models import TriageLabel, TriageModel, TriageRule
from apps.triage.services import labels_import, rule_create
from tests.browser.support import open_console, screenshot, wait_for_js
from tests.conftest import twilio_params
from tests.factories import AgentFactory
from tests.triage.conftest import corpus

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
        wait_for_js(
            page,
            "!document.querySelector('#views button[data-view=noise] .view-count') || "
            "document.querySelector('#views button[data-view=noise] .view-count').textContent === '0'",
        )
        assert page.locator("#conv-list li", has_text=praise).count() == 0
        # Ben's Noise view drops it live; his queue has it.
        ben.page.locator("#conv-list li", has_text=praise).wait_for(state="detached")
        ben.page.click("#views button[data-view=all]")
        ben.page.locator("#conv-list li", has_text=praise).wait_for()
        screenshot(page, "triage-actionable")

        # And back, from the keyboard: the toggle is the same button, now "Mark not actionable" (n).
        assert page.locator("#triage-btn").inner_text() == "Mark not actionable"
        page.locator("#timeline").click()  # out of any field, as the shortcuts want
        page.keyboard.press("n")
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


def test_an_administrator_manages_rules_and_retrains_on_the_triage_page(chromium, console_server, sms_inbox, agent):
    admin = AgentFactory(username="root", display_name="Root", role=Agent.Role.ADMIN)
    sms_inbox.members.add(admin)
    labels_import(corpus()[::2])  # half the corpus: a quicker training on a busy machine
    root = open_console(chromium, console_server, "root")
    ana = open_console(chromium, console_server, "ana")
    try:
        page = root.page
        page.click("#triage-link")
        page.wait_for_url(console_server.url + "/console/triage/")
        page.locator("#model-status", has_text="No model in use yet").wait_for()

        page.fill("#rule-name", "Out of office")
        page.fill("#rule-keywords", "out of office, on vacation")
        page.fill("#rule-channels", "email")
        page.select_option("#rule-category", "automated")
        page.click("#rule-form button[type=submit]")
        row = page.locator("#rules tr", has_text="Out of office")
        row.wait_for()
        assert "words: out of office, on vacation" in row.inner_text()
        assert "not actionable (automated)" in row.inner_text()
        rule = TriageRule.objects.get()
        assert (rule.keywords, rule.channels, rule.category) == (
            ["out of office", "on vacation"],
            ["email"],
            "automated",
        )

        row.locator("button", has_text="Switch off").click()
        page.locator("#rules tr.disabled", has_text="Out of office").wait_for()
        assert TriageRule.objects.get().enabled is False

        # The server's periodic sweep may be training these labels already: either way a model
        # beats "no model" and is rolled out, and the page shows it.
        page.click("#retrain-btn")
        page.locator("#model-status", has_text="Version 1 in use").wait_for(timeout=120_000)
        page.locator("#model-history tr[data-version='1'][data-state=active]").wait_for()
        assert TriageModel.objects.get(state="active").version == 1
        screenshot(page, "triage-admin")

        # An agent reads the page but gets no editing controls.
        ana.page.goto(console_server.url + "/console/triage/")
        ana.page.locator("#rules tr", has_text="Out of office").wait_for()
        assert ana.page.locator("#rule-form").count() == 0
        assert ana.page.locator("#retrain-btn").count() == 0
        assert root.errors == [] and ana.errors == []
    finally:
        root.context.close()
        ana.context.close()
