"""Business-time arithmetic (apps.sla.calendar): hours per time zone, holidays, DST."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.sla.calendar import Calendar, week_validate

WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
PARIS = Calendar(tz="Europe/Paris", week=WEEKDAYS)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_adding_within_the_day_stays_in_the_day():
    # Tuesday 2026-03-03 10:00 Paris = 09:00 UTC; 30 business minutes later.
    assert PARIS.add(utc(2026, 3, 3, 9, 0), 30 * 60) == utc(2026, 3, 3, 9, 30)


def test_adding_past_closing_continues_next_morning():
    # Tuesday 16:30 Paris (15:30 UTC) + 60 min: 30 today, 30 from Wednesday 09:00 Paris.
    assert PARIS.add(utc(2026, 3, 3, 15, 30), 60 * 60) == utc(2026, 3, 4, 8, 30)


def test_friday_evening_rolls_over_the_weekend():
    # Friday 2026-03-06 18:00 Paris (closed) + 15 min = Monday 09:15 Paris.
    assert PARIS.add(utc(2026, 3, 6, 17, 0), 15 * 60) == utc(2026, 3, 9, 8, 15)


def test_a_holiday_is_closed():
    cal = Calendar(tz="Europe/Paris", week=WEEKDAYS, holidays=frozenset({dt.date(2026, 3, 4)}))
    assert cal.add(utc(2026, 3, 3, 15, 30), 60 * 60) == utc(2026, 3, 5, 8, 30)
    assert not cal.open_at(utc(2026, 3, 4, 10, 0))


def test_between_counts_only_open_time():
    # Friday 16:00 Paris → Monday 10:00 Paris: 1 h Friday + 1 h Monday.
    assert PARIS.between(utc(2026, 3, 6, 15, 0), utc(2026, 3, 9, 9, 0)) == 2 * 3600
    assert PARIS.between(utc(2026, 3, 9, 9, 0), utc(2026, 3, 6, 15, 0)) == -2 * 3600


def test_hours_follow_the_time_zone_across_daylight_saving():
    # Paris moves to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    assert PARIS.add(utc(2026, 3, 27, 16, 0), 0) == utc(2026, 3, 30, 7, 0)
    assert PARIS.open_at(utc(2026, 3, 30, 7, 0))
    assert not PARIS.open_at(utc(2026, 3, 30, 6, 59))
    new_york = Calendar(tz="America/New_York", week=WEEKDAYS)
    assert new_york.open_at(utc(2026, 3, 3, 14, 0)) and not new_york.open_at(utc(2026, 3, 3, 13, 59))


def test_a_calendar_with_no_hours_counts_around_the_clock():
    assert Calendar().add(utc(2026, 3, 7, 23, 0), 3600) == utc(2026, 3, 8, 0, 0)
    assert Calendar().open_at(utc(2026, 3, 7, 3, 0))


@pytest.mark.parametrize(
    ("tz", "week", "words"),
    [
        ("Mars/Olympus", {}, "unknown time zone"),
        ("UTC", {"mon": [["18:00", "09:00"]]}, "is not before"),
        ("UTC", {"funday": []}, "unknown day"),
        ("UTC", {"mon": [["9am", "5pm"]]}, "is not a time"),
    ],
)
def test_bad_schedules_are_refused_in_words(tz, week, words):
    with pytest.raises(ValueError, match=words):
        week_validate(tz, week)
