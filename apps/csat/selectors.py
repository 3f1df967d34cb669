"""Reads of satisfaction for reports (apps.reports may use these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Count, Q

from apps.csat.models import Survey


def csat_summary(*, since: dt.datetime, until: dt.datetime, agent_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Per agent, over surveys asked in [since, until): sent, answered, average rating, and the
    CSAT score (share of 4 and 5 among answers, in percent). One grouped query."""
    qs = Survey.objects.filter(created_at__gte=since, created_at__lt=until).exclude(status=Survey.Status.SKIPPED)
    if agent_ids is not None:
        qs = qs.filter(agent_id__in=agent_ids)
    rows = (
        qs.values("agent_id")
        .annotate(
            asked=Count("id"),
            answered=Count("id", filter=Q(rating__isnull=False)),
            satisfied=Count("id", filter=Q(rating__gte=4)),
            average=Avg("rating"),
        )
        .order_by("agent_id")
    )
    return [
        {
            "agent": r["agent_id"],
            "asked": r["asked"],
            "answered": r["answered"],
            "average": round(float(r["average"]), 2) if r["average"] is not None else None,
            "score": round(100 * r["satisfied"] / r["answered"], 1) if r["answered"] else None,
        }
        for r in rows
    ]
