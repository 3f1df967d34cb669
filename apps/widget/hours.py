"""Business hours of a widget inbox: {"tz": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]], …}}."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from apps.core.week import DAYS, hhmm_minutes, week_days_validate


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
    week_days_validate(days)


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
        if hhmm_minutes(start) <= minute < hhmm_minutes(end):
            return True
    return False
