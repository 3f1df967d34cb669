"""Reads of service levels for reports (apps.reports may use these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count

from apps.sla.models import SlaBreach


def sla_breaches_by_target(*, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Breaches in [since, until) by policy and target: one grouped query on sla_breach_at_idx."""
    rows = (
        SlaBreach.objects.filter(breached_at__gte=since, breached_at__lt=until)
        .values("policy_id", "target")
        .annotate(breaches=Count("id"))
        .order_by("policy_id", "target")
    )
    return [{"policy": r["policy_id"], "target": r["target"], "breaches": r["breaches"]} for r in rows]
