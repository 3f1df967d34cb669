"""The reports' SLA attainment and CSAT, from the service-level clocks (apps.sla) and the
satisfaction surveys (apps.csat); registered in ReportsConfig.ready().

- SLA attainment: of the conversations created in the period that had an SLA clock, the share
  that breached neither its first-response nor its resolution target (so far).
- CSAT: the average rating (1-5) of the surveys answered in the period.
Both follow the report's filters (inboxes, team, agent = the conversation's assignee; CSAT: the
agent the survey was about) and answer per agent and per team, each in one grouped query.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from apps.csat.models import Survey
from apps.reports.registry import MetricResult, ReportFilters
from apps.sla.models import ConversationSla


def _scoped(qs: QuerySet[Any], filters: ReportFilters, *, conversation: str, agent_field: str) -> QuerySet[Any]:
    if filters.inbox_ids is not None:
        qs = qs.filter(**{f"{conversation}inbox_id__in": filters.inbox_ids})
    if filters.team_id is not None:
        qs = qs.filter(**{f"{conversation}team_id": filters.team_id})
    if filters.agent_id is not None:
        qs = qs.filter(**{agent_field: filters.agent_id})
    return qs


def _grouped(qs: QuerySet[Any], key: str, value: Any) -> dict[int, tuple[float | None, int]]:
    rows = qs.values(key).annotate(v=value, n=Count("pk")).order_by(key)
    return {r[key]: (None if r["v"] is None else float(r["v"]), r["n"]) for r in rows if r[key] is not None}


def sla_attainment(filters: ReportFilters) -> MetricResult | None:
    qs = _scoped(
        ConversationSla.objects.filter(
            conversation__created_at__gte=filters.start, conversation__created_at__lt=filters.end
        ),
        filters,
        conversation="conversation__",
        agent_field="conversation__assignee_id",
    )
    met = Count("pk", filter=Q(first_response_breached=False, resolution_breached=False))
    total = qs.aggregate(m=met, n=Count("pk"))
    if not total["n"]:
        return None

    def by(key: str) -> dict[int, tuple[float | None, int]]:
        rows = qs.values(key).annotate(m=met, n=Count("pk")).order_by(key)
        return {r[key]: (r["m"] / r["n"], r["n"]) for r in rows if r[key] is not None}

    return MetricResult(
        value=total["m"] / total["n"],
        count=total["n"],
        agents=by("conversation__assignee_id"),
        teams=by("conversation__team_id"),
    )


def csat_average(filters: ReportFilters) -> MetricResult | None:
    qs = _scoped(
        Survey.objects.filter(rating__isnull=False, answered_at__gte=filters.start, answered_at__lt=filters.end),
        filters,
        conversation="conversation__",
        agent_field="agent_id",
    )
    total = qs.aggregate(v=Avg("rating"), n=Count("pk"))
    if not total["n"]:
        return None
    return MetricResult(
        value=round(float(total["v"]), 2),
        count=total["n"],
        agents=_grouped(qs, "agent_id", Avg("rating")),
        teams=_grouped(qs, "conversation__team_id", Avg("rating")),
    )
