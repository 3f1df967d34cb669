"""The widget's open/closed follows the desk's business calendar (apps.sla) when one is set:
the team's own hours first, then the desk's, holidays closed; without one, the widget's own hours."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.sla.models import BusinessCalendar, Holiday
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def all_week() -> dict:
    return {d: [["00:00", "24:00"]] for d in DAYS}


def test_a_desk_calendar_closed_today_closes_the_widget(widget, widget_inbox):
    widget_inbox.widget.business_hours = {"tz": "UTC", "days": all_week()}  # its own hours say open
    widget_inbox.widget.save()
    BusinessCalendar.objects.create(name="Desk", tz="UTC", week={})
    assert widget.session().json()["inbox"]["open"] is True  # no hours at all: around the clock
    desk = BusinessCalendar.objects.get()
    desk.week = {d: [["00:00", "24:00"]] for d in DAYS}
    desk.save()
    assert widget.session().json()["inbox"]["open"] is True
    Holiday.objects.create(date=timezone.now().astimezone(ZoneInfo("UTC")).date(), name="Today")
    inbox = widget.session().json()["inbox"]
    assert inbox["open"] is False and inbox["online"] is False


def test_the_teams_own_hours_override_the_desks(widget, widget_inbox):
    BusinessCalendar.objects.create(name="Desk", tz="UTC", week=all_week())
    today = DAYS[timezone.now().weekday()]
    # The inbox's team is closed today (open only on another day).
    other = DAYS[(DAYS.index(today) + 1) % 7]
    BusinessCalendar.objects.create(
        name="Support", tz="UTC", week={other: [["00:00", "24:00"]]}, team=widget_inbox.team
    )
    assert widget.session().json()["inbox"]["open"] is False
    BusinessCalendar.objects.filter(team=widget_inbox.team).update(team=TeamFactory(name="Elsewhere"))
    assert widget.session().json()["inbox"]["open"] is True
