"""Business-time arithmetic on a weekly schedule in a time zone, minus holidays.

Pure functions on a `Calendar` value (no database): `open_at`, `add` (a point that many
business seconds later) and `between` (business seconds from a to b). A calendar with no open
hours at all counts around the clock, so that a misconfigured desk never makes a clock stop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.core.week import DAYS, hhmm_minutes, week_days_validate

MAX_DAYS = 800  # how far `add` walks before giving up (a schedule open one day a year still fits)


def week_validate(tz: str, week: Any) -> None:
    """Raise ValueError (in words) unless `tz` is a time zone and `week` a schedule
    {"mon": [["09:00", "17:30"], …], …} (days left out are closed)."""
    try:
        ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    if not isinstance(week, dict):
        raise ValueError("the week maps mon…sun to lists of [start, end]")
    week_days_validate(week)


@dataclass(frozen=True)
class Calendar:
    tz: str = "UTC"
    week: dict[str, list[list[str]]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not any(self.week.get(day) for day in DAYS)

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz or "UTC")

    def spans_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The open spans of a local date, as aware UTC datetimes, in order, merged."""
        if day in self.holidays:
            return []
        zone = self._zone()
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
        out: list[tuple[dt.datetime, dt.datetime]] = []
        for start, end in sorted(self.week.get(DAYS[day.weekday()], []), key=lambda s: hhmm_minutes(s[0])):
            a = _local(midnight, hhmm_minutes(start), zone)
            b = _local(midnight, hhmm_minutes(end), zone)
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            elif a < b:
                out.append((a, b))
        return out

    def _spans_from(self, at: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open spans that end after `at`, clipped to start no earlier than `at`."""
        day = at.astimezone(self._zone()).date() - dt.timedelta(days=1)  # a span may cross midnight in UTC
        for offset in range(MAX_DAYS):
            for a, b in self.spans_on(day + dt.timedelta(days=offset)):
                if b > at:
                    yield max(a, at), b

    def open_at(self, at: dt.datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(self._zone()).date()
        return any(a <= at < b for a, b in self.spans_on(local))

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The point `seconds` of business time after `start`."""
        if self.always_open:
            return start + dt.timedelta(seconds=seconds)
        left = dt.timedelta(seconds=max(0.0, seconds))
        last = start
        for a, b in self._spans_from(start):
            last = a
            if b - a >= left:
                return a + left
            left -= b - a
            last = b
        return last + left  # no open hours within MAX_DAYS: count the rest around the clock

    def between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Business seconds from a to b (negative when b is before a)."""
        if b < a:
            return -self.between(b, a)
        if self.always_open:
            return (b - a).total_seconds()
        total = 0.0
        for x, y in self._spans_from(a):
            if x >= b:
                break
            total += (min(y, b) - x).total_seconds()
        return total


def _local(midnight: dt.datetime, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of `minutes` past local midnight (wall-clock: across a DST change the
    hour that does not exist is moved forward, as zoneinfo does)."""
    wall = dt.datetime.combine(midnight.date(), dt.time(), tzinfo=zone) + dt.timedelta(minutes=minutes)
    # `+ timedelta` on an aware datetime is wall-clock arithmetic; normalise through UTC.
    return wall.astimezone(dt.UTC)
