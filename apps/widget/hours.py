"""Business hours of a widget inbox: {"tz": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]], …}}."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minutes(value: Any) -> int:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time HH:MM")
    minutes = int(match[1]) * 60 + int(match[2])
    if minutes > 24 * 60:
        raise ValueError(f"{value!r} is past 24:00")
    return minutes


def hours_validate(hours: Any) -> None:
    """Raise ValueError (in words) unless `hours` is empty or a well-formed schedule."""
    if not hours:
        return
    if not isinstance(hours, dict):
        raise ValueError("business hours are an object with 'tz' and 'days'")
    unknown = set(hours) - {"tz", "days"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; only 'tz' and 'days'")
    try:
        ZoneInfo(str(hours.get("tz") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {hours.get('tz')!r}") from exc
    days = hours.get("days", {})
    if not isinstance(days, dict):
        raise ValueError("'days' maps mon…sun to lists of [start, end]")
    for day, spans in days.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        if not isinstance(spans, list):
            raise ValueError(f"{day}: a list of [start, end] pairs")
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise ValueError(f"{day}: each span is [start, end]")
            if _minutes(span[0]) >= _minutes(span[1]):
                raise ValueError(f"{day}: {span[0]} is not before {span[1]}")


def hours_open(hours: Any, now: dt.datetime | None = None) -> bool:
    """Within business hours now (empty or malformed hours: always open)."""
    if not hours:
        return True
    try:
        hours_validate(hours)
    except ValueError:
        return True
    local = (now or timezone.now()).astimezone(ZoneInfo(str(hours.get("tz") or "UTC")))
    minute = local.hour * 60 + local.minute
    for start, end in hours.get("days", {}).get(DAYS[local.weekday()], []):
        if _minutes(start) <= minute < _minutes(end):
            return True
    return False
