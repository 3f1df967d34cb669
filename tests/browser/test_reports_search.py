"""The reports page (charts render, CSV link, under the desk's CSP) and the console's search box
("/" focuses it, results show the matching snippet, Enter opens the conversation), in Chromium."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.accounts.models import Agent
from apps.conversations.models import Conversation, Message
from tests.browser.support import open_console, screenshot, wait_for_js
from tests.factories import ContactFactory, ConversationFactory

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _conversation(inbox, agent, body: str, *, name: str, days_ago: int, resolved: bool) -> Conversation:
    now = dt.datetime.now(dt.UTC)
    created = now - dt.timedelta(days=days_ago, hours=2)
    conv = ConversationFactory(
        inbox=inbox,
        assignee=agent,
        team=inbox.team,
        contact=ContactFactory(name=name),
        status="resolved" if resolved else "open",
        first_response_at=created + dt.timedelta(minutes=4),
        first_response_seconds=240,
        resolved_at=created + dt.timedelta(hours=1) if resolved else None,
        last_seq=1,
    )
    Conversation.objects.filter(pk=conv.pk).update(created_at=created)
    Message.objects.create(
        conversation=conv,
        seq=1,
        inbox=inbox,
        direction="in",
        kind="message",
        body=body,
        status="received",
        created_at=created,
    )
    return conv


def test_reports_page_renders_charts_tables_and_csv_link(chromium, console_server, sms_inbox, agent):
    Agent.objects.filter(pk=agent.pk).update(role=Agent.Role.ADMIN)
    for i in range(6):
        _conversation(sms_inbox, agent, f"order {i}", name=f"Customer {i}", days_ago=i, resolved=i % 2 == 0)
    ana = open_console(chromium, console_server, "ana")
    try:
        page = ana.page
        page.click("#reports-link")
        page.wait_for_url("**/console/reports/**")
        wait_for_js(page, "document.body.dataset.loaded === '1'")
        assert page.locator("#s-created").inner_text() == "6"
        assert page.locator("#s-resolved").inner_text() == "3"
        assert page.locator("#s-frt").inner_text() == "4m / 4m"
        assert page.locator("#s-sla").inner_text() == "—"  # no SLA source registered
        # Each chart drew on its canvas (uPlot), with a legend entry per series.
        for box in ("chart-volume", "chart-hours", "chart-backlog"):
            assert page.locator(f"#{box} canvas").count() == 1
            width = page.evaluate(f"() => document.querySelector('#{box} canvas').width")
            assert width >= 300
        assert "SMS / WhatsApp" in page.locator("#chart-volume .u-legend").inner_text()
        assert page.locator("#t-agents tbody tr").first.locator("th").inner_text() == "Ana"
        href = page.locator("#r-csv").get_attribute("href")
        assert href.startswith("/api/v1/reports.csv?from=")
        csv = page.evaluate("async (u) => (await fetch(u)).text()", href)
        assert csv.splitlines()[1].startswith("total,,All,6,3,")
        # Narrowing to a channel with nothing reloads the report.
        page.select_option("#r-channel", "email")
        wait_for_js(page, "document.getElementById('s-created').textContent === '0'")
        page.select_option("#r-channel", "")
        wait_for_js(page, "document.getElementById('s-created').textContent === '6'")
        screenshot(page, "reports")
        assert ana.errors == []
    finally:
        ana.context.close()


def test_reports_page_is_refused_to_agents(chromium, console_server, sms_inbox, agent):
    ana = open_console(chromium, console_server, "ana")
    try:
        assert ana.page.locator("#reports-link").count() == 0
        response = ana.page.goto(console_server.url + "/console/reports/")
        assert response.status == 403
        assert "for supervisors and admins" in ana.page.inner_text("body")
    finally:
        ana.context.close()


def test_slash_focuses_search_and_a_result_opens_its_conversation(chromium, console_server, sms_inbox, agent):
    _conversation(
        sms_inbox,
        agent,
        "The parcel never arrived, tracking says delivered",
        name="Rosa Diaz",
        days_ago=3,
        resolved=True,
    )
    wanted = _conversation(
        sms_inbox, agent, "Please refund my duplicate payment", name="Sven Larsen", days_ago=1, resolved=False
    )
    ana = open_console(chromium, console_server, "ana")
    try:
        page = ana.page
        page.locator("body").press("/")
        assert page.evaluate("() => document.activeElement.id") == "search-q"
        page.keyboard.type("duplic")
        page.locator("#search-results .search-hit").first.wait_for()
        hits = page.locator("#search-results .search-hit")
        assert hits.count() == 1
        assert "Sven Larsen" in hits.first.inner_text()
        assert page.locator("#search-results mark").first.inner_text() == "duplicate"
        screenshot(page, "search")
        page.keyboard.press("ArrowDown")
        assert page.evaluate("() => document.activeElement.dataset.conversation") == str(wanted.pk)
        page.keyboard.press("Enter")
        wait_for_js(page, f"window.supportdeskConsole.state.selected === {wanted.pk}")
        assert page.locator("#search-panel").is_hidden()
        page.locator("#timeline").get_by_text("Please refund my duplicate payment").wait_for()
        # Esc closes the panel and leaves the focus in the box.
        page.locator("body").press("/")
        page.keyboard.type("parcel")
        page.locator("#search-results .search-hit", has_text="Rosa Diaz").wait_for()
        page.keyboard.press("Escape")
        assert page.locator("#search-panel").is_hidden()
        assert ana.errors == []
    finally:
        ana.context.close()
