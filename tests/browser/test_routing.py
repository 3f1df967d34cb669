"""Routing in real Chromium: the widget shows a waiting visitor their place in the queue and the
expected wait, and follows the queue live as it moves; an administrator manages rules on the
console's routing page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from apps.accounts.models import Agent, Inbox
from apps.assignment.services import presence_set
from apps.conversations.models import Conversation
from apps.dispatch.models import QueueWait, RoutingRule
from apps.widget.models import WidgetSettings
from tests.browser.support import LiveServer, open_console, screenshot, start_server, stop_server
from tests.browser.test_widget import demo_url, open_widget, unique
from tests.factories import AgentFactory, InboxFactory
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(tmp_path) -> Iterator[LiveServer]:
    server = start_server(tmp_path, WIDGET_QUEUE_POLL_SECONDS="1", WIDGET_RATE_CONNECTS="1000/60")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def chat(team, agent) -> Inbox:
    inbox = InboxFactory(name="Shop chat", channel=Inbox.Channel.WIDGET, address="", team=team, auto_assign=False)
    inbox.members.add(agent)
    WidgetSettings.objects.create(inbox=inbox, secret="widget_secret_123", greeting="Hello from the shop!")
    return inbox


def test_widget_shows_the_queue_position_and_follows_it_live(chromium, desk, chat, agent):
    # Lately, one conversation was handed out every 5 minutes in this queue.
    now = timezone.now()
    QueueWait.objects.bulk_create(
        QueueWait(inbox=chat, team=chat.team, waited_seconds=240, assigned_at=now - dt.timedelta(minutes=5 * i))
        for i in range(1, 7)
    )
    presence_set(agent_id=agent.pk, status="online")  # online; this inbox does not auto-assign
    first = open_widget(chromium, demo_url(desk, chat)).mounted()
    second = open_widget(chromium, demo_url(desk, chat)).mounted()
    try:
        first.open().live()
        asked = unique("Is my order shipped?")
        first.send(asked)
        first.state(asked, "sent").wait_for()
        first.wait(first.q(".queue[data-position='1']"), desk)
        assert first.q(".queue").inner_text().startswith("You are next in the queue · expected wait: about ")

        second.open().live()
        also = unique("Do you ship to Norway?")
        second.send(also)
        second.state(also, "sent").wait_for()
        second.wait(second.q(".queue[data-position='2']"), desk)
        assert second.q(".queue").inner_text().startswith("You are number 2 in the queue · expected wait: about ")
        screenshot(second.page, "widget-queue-position")

        # An agent takes the first conversation: the second visitor moves up, the first one's
        # notice goes away, without a reload.
        taken = wait_for(
            lambda: Conversation.objects.filter(messages__body=asked).first(), what="the first conversation"
        )
        Conversation.objects.filter(pk=taken.pk).update(assignee=agent)
        second.wait(second.q(".queue[data-position='1']"), desk)
        assert second.q(".queue").inner_text().startswith("You are next in the queue")
        first.q(".queue").wait_for(state="hidden")
        screenshot(second.page, "widget-queue-moved-up")
    finally:
        first.context.close()
        second.context.close()


def test_admin_adds_and_orders_rules_on_the_routing_page(chromium, desk, team, agent):
    admin = AgentFactory(username="root", display_name="Rita Admin", role=Agent.Role.ADMIN)
    team.members.add(admin)
    console = open_console(chromium, desk, "root")
    page = console.page
    page.locator("a.topbar-link", has_text="Routing").click()
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#rule-name", "Bug reports")
    page.fill("#rule-keywords", "crash, error")
    page.select_option("#rule-team", str(team.pk))
    page.select_option("#rule-priority", "3")
    page.check("#rule-channels input[value='sms']")
    page.click("#rule-save")
    page.locator("#rules tr", has_text="Bug reports").wait_for()
    page.fill("#rule-name", "Everything else")
    page.click("#rule-save")
    page.locator("#rules tr", has_text="Everything else").wait_for()
    rows = page.locator("#rules tr")
    assert "words: crash, error; channel: sms" in rows.nth(0).inner_text()
    assert "priority high" in rows.nth(0).inner_text()
    page.get_by_role("button", name="Move Everything else up").click()
    page.locator("#rules tr").nth(0).filter(has_text="Everything else").wait_for()
    assert list(RoutingRule.objects.order_by("position").values_list("name", flat=True)) == [
        "Everything else",
        "Bug reports",
    ]
    rule = RoutingRule.objects.get(name="Bug reports")
    assert rule.keywords == ["crash", "error"] and rule.team_id == team.pk and rule.priority == 3
    screenshot(page, "console-routing")
    # A bad pattern is refused in words.
    page.fill("#rule-name", "Broken")
    page.fill("#rule-pattern", "(unclosed")
    page.click("#rule-save")
    page.locator("#rule-error", has_text="not a valid regular expression").wait_for()
    assert console.errors == []


def test_agents_cannot_open_the_routing_page(chromium, desk, agent):
    console = open_console(chromium, desk, "ana")
    assert console.page.locator("a.topbar-link", has_text="Routing").count() == 0
    response = console.page.goto(desk.url + "/console/routing/")
    assert response.status == 403
    assert "Only administrators" in console.page.inner_text("body")


def test_the_agent_sees_the_routing_decision_in_the_timeline(chromium, desk, chat, agent, team):
    RoutingRule.objects.create(name="Bug reports", keywords=["crash"], team=team, priority=3)
    visitor = open_widget(chromium, demo_url(desk, chat)).mounted()
    try:
        visitor.open().live()
        text = unique("The app crashes at checkout")
        visitor.send(text)
        visitor.state(text, "sent").wait_for()
        console = open_console(chromium, desk, "ana")
        console.page.locator("#conv-list li", has_text=text).click()
        entry = console.page.locator("#timeline li.activity", has_text="Routed to Support")
        entry.wait_for()
        assert (
            entry.inner_text()
            .strip()
            .startswith("Routed to Support: matched 'crashes' (rule “Bug reports”); priority high")
        )
        screenshot(console.page, "console-routing-timeline")
    finally:
        visitor.context.close()
