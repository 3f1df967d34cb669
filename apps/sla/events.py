"""Event types of service levels (defined once) and their payloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from apps.sla.models import ConversationSla


class SlaEvent:
    # A conversation's clock changed (started, paused, met, new cycle): its due time for lists.
    UPDATED = "sla.updated"
    # A target was missed (once per conversation, target and cycle).
    BREACHED = "sla.breached"


NOTIFY_KIND = "sla_breach"


def _iso(value: Any) -> str | None:
    """value.isoformat(); a UTC time (the database's) written by orjson, the same text in a
    third of the time (a list page writes 250 of them)."""
    if value is None:
        return None
    if getattr(value, "tzinfo", None) is _UTC:
        return orjson.dumps(value)[1:-1].decode()
    return str(value.isoformat())


_UTC = dt.UTC


def sla_data(row: ConversationSla | None) -> dict[str, Any] | None:
    """What lists and headers show of a conversation's clock (None: no SLA applies)."""
    if row is None or row.policy_id is None:
        return None
    return {
        "policy": row.policy_id,
        "cycle": row.cycle,
        "next_due_at": _iso(row.next_due_at),
        "next_target": row.next_target or None,
        "paused": row.paused_at is not None,
        "first_response_due_at": _iso(row.first_response_due_at),
        "first_responded_at": _iso(row.first_responded_at),
        "resolution_due_at": _iso(row.resolution_due_at),
        "resolved_at": _iso(row.resolved_at),
    }


def sla_row_data(row: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any] | None:
    """sla_data of a clock read as values() (its columns under `prefix`): the hot lists read
    dicts, not ConversationSla instances (issue 14). None: no clock (a LEFT JOIN's Nones) or no
    policy."""
    if row[prefix + "policy_id"] is None:
        return None
    return {
        "policy": row[prefix + "policy_id"],
        "cycle": row[prefix + "cycle"],
        "next_due_at": _iso(row[prefix + "next_due_at"]),
        "next_target": row[prefix + "next_target"] or None,
        "paused": row[prefix + "paused_at"] is not None,
        "first_response_due_at": _iso(row[prefix + "first_response_due_at"]),
        "first_responded_at": _iso(row[prefix + "first_responded_at"]),
        "resolution_due_at": _iso(row[prefix + "resolution_due_at"]),
        "resolved_at": _iso(row[prefix + "resolved_at"]),
    }
