"""Event types of service levels (defined once) and their payloads."""

from __future__ import annotations

from typing import Any

from apps.sla.models import ConversationSla


class SlaEvent:
    # A conversation's clock changed (started, paused, met, new cycle): its due time for lists.
    UPDATED = "sla.updated"
    # A target was missed (once per conversation, target and cycle).
    BREACHED = "sla.breached"


NOTIFY_KIND = "sla_breach"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


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
