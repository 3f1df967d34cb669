"""A weekly schedule as admins write it: {"mon": [["09:00", "17:30"], …], …} (days left out are
closed). The SLA calendar (apps.sla.calendar) and a widget inbox's business hours
(apps.widget.hours) read the same shape and refuse a bad one in the same words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def hhmm_minutes(value: Any) -> int:
    """Minutes past midnight of "HH:MM" (up to "24:00"); ValueError in words otherwise."""
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time HH:MM")
    minutes = int(match[1]) * 60 + int(match[2])
    if minutes > 24 * 60:
        raise ValueError(f"{value!r} is past 24:00")
    return minutes


def week_days_validate(week: Mapping[Any, Any]) -> None:
    """Raise ValueError (in words) unless every day of `week` is a known day with a list of
    [start, end] spans, each start before its end."""
    for day, spans in week.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        if not isinstance(spans, list):
            raise ValueError(f"{day}: a list of [start, end] pairs")
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise ValueError(f"{day}: each span is [start, end]")
            if hhmm_minutes(span[0]) >= hhmm_minutes(span[1]):
                raise ValueError(f"{day}: {span[0]} is not before {span[1]}")
