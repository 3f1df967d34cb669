"""Rate limits (in the Django cache — Redis in the tests) and business hours / online."""

from __future__ import annotations

import datetime as dt
from unittest import mock

from django.utils import timezone

from apps.assignment.models import AgentPresence
from apps.conversations.models import Message
from apps.widget.hours import hours_open, hours_validate
from apps.widget.services import inbox_online
from tests.widget.conftest import WidgetClient


def test_sessions_are_rate_limited_per_ip(widget_inbox, settings, window_start):
    settings.WIDGET_RATE_CONNECTS = "3/60"
    client = WidgetClient(widget_inbox, ip="198.51.100.7")
    codes = [client.session().status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.session()
    assert refused.json()["error"]["code"] == "rate_limited"
    # Another address is not affected.
    assert WidgetClient(widget_inbox, ip="198.51.100.8").session().status_code == 200


def test_messages_are_rate_limited_per_visitor(widget_inbox, settings, window_start):
    settings.WIDGET_RATE_MESSAGES = "3/10"
    one, two = WidgetClient(widget_inbox), WidgetClient(widget_inbox)
    one.session()
    two.session()
    codes = [one.send(f"m{i}", f"c-{i}").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    assert one.send("m9", "c-9").json()["error"]["code"] == "rate_limited"
    assert Message.objects.count() == 3
    # A retry of a stored message is answered, not counted or refused.
    assert one.send("m0", "c-0").status_code == 200
    assert two.send("hi", "t-1").status_code == 201


def test_rate_window_passes(widget_inbox, settings):
    settings.WIDGET_RATE_MESSAGES = "1/10"
    client = WidgetClient(widget_inbox)
    client.session()
    assert client.send("a", "a").status_code == 201
    assert client.send("b", "b").status_code == 429
    later = timezone.now() + dt.timedelta(seconds=11)
    with mock.patch("apps.widget.services.timezone.now", return_value=later):
        assert client.send("b", "b").status_code == 201


HOURS = {"tz": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]], "sat": [["10:00", "12:00"]]}}


def test_business_hours():
    # Monday 2026-11-30 08:30 UTC is 09:30 in Paris.
    assert hours_open(HOURS, dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC)) is True
    assert hours_open(HOURS, dt.datetime(2026, 11, 30, 16, 29, tzinfo=dt.UTC)) is True  # 17:29 in Paris
    assert hours_open(HOURS, dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)) is False  # 17:30: closed
    assert hours_open(HOURS, dt.datetime(2026, 11, 30, 7, 59, tzinfo=dt.UTC)) is False  # 08:59
    assert hours_open(HOURS, dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)) is False  # Tuesday
    assert hours_open({}, dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)) is True


def test_business_hours_validation():
    hours_validate(HOURS)
    for bad in [
        {"tz": "Mars/Olympus"},
        {"days": {"monday": []}},
        {"days": {"mon": [["17:00", "09:00"]]}},
        {"days": {"mon": [["9am", "5pm"]]}},
        {"days": {"mon": ["09:00"]}},
        {"hours": {}},
        ["mon"],
    ]:
        try:
            hours_validate(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_online_needs_a_fresh_online_member_within_hours(widget_inbox, agent, other_agent):
    assert inbox_online(widget_inbox) is False
    AgentPresence.objects.create(agent=other_agent, status="online", last_seen_at=timezone.now())
    assert inbox_online(widget_inbox) is False  # not a member of this inbox
    presence = AgentPresence.objects.create(agent=agent, status="online", last_seen_at=timezone.now())
    assert inbox_online(widget_inbox) is True
    presence.last_seen_at = timezone.now() - dt.timedelta(hours=1)
    presence.save()
    assert inbox_online(widget_inbox) is False  # stale
    presence.last_seen_at = timezone.now()
    presence.save()
    widget_inbox.widget.business_hours = {"tz": "UTC", "days": {}}  # never open
    widget_inbox.widget.save()
    assert inbox_online(widget_inbox) is False
    assert WidgetClient(widget_inbox).session().json()["inbox"]["open"] is False
