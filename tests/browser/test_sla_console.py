"""Service levels and macros in the console, in real Chromium against a real server process:
the SLA due badge live in the list and header (due → breached, with the breach in the timeline),
the "due soonest" sort, a macro applied from the picker, and the settings page."""

from __future__ import annotations

import uuid

import pytest

from apps.conversations.models import Conversation, Message
from apps.macros.models import Macro
from apps.sla.models import SlaPolicy
from apps.sla.services import sla_config_save
from tests.browser.support import open_console, screenshot
from tests.conftest import twilio_params

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


def test_due_badge_goes_live_from_due_to_breached_and_a_macro_applies_in_one_step(
    chromium, console_server, sms_inbox, agent
):
    sms_inbox.auto_assign = False
    sms_inbox.save(update_fields=["auto_assign"])
    policy = SlaPolicy.objects.create(
        name="SMS 30 min", inbox=sms_inbox, first_response_minutes=30, resolution_minutes=480, business_hours=False
    )
    Macro.objects.create(
        name="Escalate to billing",
        add_labels=["billing"],
        priority=3,
        reply="Hi {contact}, a billing specialist will follow up. — {agent}",
    )
    ana = open_console(chromium, console_server, "ana")
    try:
        ana.page.select_option("#f-sort", "due")
        body = unique("I was charged twice")
        console_server.post_twilio(WEBHOOK, twilio_params(Body=body))
        item = ana.page.locator("#conv-list li", has_text=body)
        item.wait_for()
        # The server's periodic sweep starts the clock; the badge appears without a reload.
        badge = item.locator(".due-badge")
        badge.wait_for(timeout=30_000)
        assert badge.inner_text() in ("due in 30 min", "due in 29 min")
        assert badge.get_attribute("data-due") == "ok"
        item.click()
        ana.page.locator("#conv-due", has_text="due in").wait_for()
        screenshot(ana.page, "sla-due-badge")

        # The target tightens to zero: the clock is retargeted and the badge turns to breached,
        # and the sweep records the breach in the timeline (once).
        sla_config_save(model=SlaPolicy, pk=policy.pk, data={"first_response_minutes": 0})
        ana.page.locator("#conv-due[data-due=breached]").wait_for(timeout=30_000)
        assert ana.page.locator("#conv-due").inner_text().startswith("breached")
        item.locator(".due-badge[data-due=breached]").wait_for()
        ana.page.locator("#timeline li", has_text="SLA breached: first response was due").wait_for(timeout=30_000)
        screenshot(ana.page, "sla-breached")

        # A macro from the picker: reply, label and priority in one step, recorded in the timeline.
        ana.page.click("#macro-menu > summary")
        ana.page.locator(".macro-item", has_text="Escalate to billing").click()
        ana.page.locator("#label-chips li", has_text="billing").wait_for()
        ana.page.locator("#timeline li", has_text="Ana applied the macro").wait_for()
        ana.page.locator("#timeline li.msg.out", has_text="a billing specialist will follow up").wait_for()
        conversation = Conversation.objects.get()
        assert conversation.priority == 3
        assert Message.objects.filter(conversation=conversation, kind="message", direction="out").count() == 1
        # The reply was the first response: the clock moves on to the resolution target.
        ana.page.locator("#conv-due[data-due=ok]").wait_for(timeout=30_000)
        screenshot(ana.page, "sla-macro-applied")
        assert ana.errors == []
    finally:
        ana.context.close()


def test_the_settings_page_manages_policies_for_admins_only(chromium, console_server, sms_inbox, agent, other_agent):
    agent.role = "admin"
    agent.save(update_fields=["role"])
    ana = open_console(chromium, console_server, "ana")
    try:
        ana.page.locator("#settings-link").click()
        ana.page.wait_for_url(console_server.url + "/console/settings/")
        ana.page.click("#new-policies")
        ana.page.fill("#f-policies-name", "Urgent 15 min")
        ana.page.select_option("#f-policies-priority", "4")
        ana.page.fill("#f-policies-first_response_minutes", "15")
        ana.page.click("#form-policies button[type=submit]")
        ana.page.locator("#s-policies li", has_text="Urgent 15 min").wait_for()
        assert SlaPolicy.objects.get().first_response_minutes == 15
        ana.page.click("#new-calendars")
        ana.page.fill("#f-calendars-name", "Paris office")
        ana.page.fill("#f-calendars-tz", "Europe/Paris")
        ana.page.fill("#form-calendars input[data-day=mon]", "09:00-12:00, 13:00-17:30")
        ana.page.click("#form-calendars button[type=submit]")
        ana.page.locator("#s-calendars li", has_text="Paris office").wait_for()
        screenshot(ana.page, "sla-settings")
        assert ana.errors == []
    finally:
        ana.context.close()
    ben = open_console(chromium, console_server, "ben")
    try:
        assert ben.page.locator("#settings-link").is_hidden()
        ben.page.goto(console_server.url + "/console/settings/")
        ben.page.locator("#s-policies li", has_text="Urgent 15 min").wait_for()
        assert ben.page.locator("#readonly-note").is_visible()
        assert ben.page.locator("#new-policies").count() == 0
    finally:
        ben.context.close()
