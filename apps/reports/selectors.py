"""The reports (issue 13): volume, first-response and resolution times, backlog, SLA and CSAT,
per agent and team, over a period — computed in SQL from the conversations' kept facts.

Definitions (docs/reports.md):
- volume: conversations created in the period, by channel (their inbox's) and by hour;
- first response: conversations first answered in the period (first_response_at), the time the
  customer waited for that answer (first_response_seconds): median and p90;
- resolution: conversations resolved in the period (resolved_at), resolved_at - created_at;
- backlog at t: conversations created before t and not resolved at t (resolved_at null or
  later), at the end of each bucket;
- per agent: by the conversation's assignee; per team: by its team.

Every query is a range on one indexed timestamp (conversations migration 0008). PostgreSQL
computes the percentiles (percentile_cont, linear interpolation); SQLite has no percentile
aggregate, so there the values of the period are fetched and interpolated the same way in Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Func, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour

from apps.accounts.models import Agent, Inbox, Team
from apps.conversations.models import Conversation
from apps.core.errors import InvalidInput
from apps.reports.registry import MetricResult, ReportFilters, metric

MAX_DAYS = 366
HOURLY_UP_TO_DAYS = 2  # a period of up to 2 days is shown by the hour, a longer one by the day
QUANTILES = (0.5, 0.9)


class Percentiles(Aggregate):
    """PostgreSQL: percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    template = "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())


def _epoch_seconds_between(later: str, earlier: str) -> Func:
    return Func(F(later), F(earlier), template="EXTRACT(EPOCH FROM %(expressions)s)", arg_joiner=" - ")


def percentile(values: list[float], q: float) -> float | None:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Timing:
    count: int
    median: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        """Seconds to a tenth (interpolation leaves float noise such as 1020.0000000000001)."""
        return {"count": self.count, "median": _tenth(self.median), "p90": _tenth(self.p90)}


def _tenth(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def report_filters(
    *,
    start: dt.date | None,
    end: dt.date | None,
    tz: str = "UTC",
    team_id: int | None = None,
    agent_id: int | None = None,
    channel: str | None = None,
    inbox_id: int | None = None,
    today: dt.date | None = None,
) -> ReportFilters:
    """The filters of a report: from `start` to `end` (days, both included, in `tz`; default the
    last 30 days up to today), narrowed to a team, an agent, a channel or an inbox."""
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ValueError, KeyError) as exc:
        raise InvalidInput(f"unknown time zone {tz!r}", code="invalid_tz") from exc
    today = today or dt.datetime.now(zone).date()
    end = end or today
    start = start or end - dt.timedelta(days=29)
    if start > end:
        raise InvalidInput("`from` is after `to`", code="invalid_period")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days", code="invalid_period")
    inbox_ids: tuple[int, ...] | None = None
    if channel or inbox_id:
        inboxes = Inbox.objects.all()
        if channel:
            if channel not in Inbox.Channel.values:
                raise InvalidInput(f"unknown channel {channel!r}", code="invalid_channel")
            inboxes = inboxes.filter(channel=channel)
        if inbox_id:
            inboxes = inboxes.filter(pk=inbox_id)
        inbox_ids = tuple(inboxes.order_by("id").values_list("id", flat=True))
    return ReportFilters(
        start=dt.datetime.combine(start, dt.time.min, tzinfo=zone),
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        tz=zone,
        inbox_ids=inbox_ids,
        team_id=team_id,
        agent_id=agent_id,
    )


def _scoped(filters: ReportFilters) -> QuerySet[Conversation]:
    qs = Conversation.objects.all()
    if filters.inbox_ids is not None:
        qs = qs.filter(inbox_id__in=filters.inbox_ids)
    if filters.team_id:
        qs = qs.filter(team_id=filters.team_id)
    if filters.agent_id:
        qs = qs.filter(assignee_id=filters.agent_id)
    return qs


def _in_period(field: str, filters: ReportFilters) -> Q:
    return Q(**{f"{field}__gte": filters.start, f"{field}__lt": filters.end})


def _buckets(filters: ReportFilters) -> tuple[str, list[dt.datetime]]:
    hourly = (filters.end - filters.start) <= dt.timedelta(days=HOURLY_UP_TO_DAYS)
    step = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    out, at = [], filters.start
    while at < filters.end:
        out.append(at)
        # Walk in local wall time: a day is 23 or 25 hours across a DST change.
        naive = at.replace(tzinfo=None) + step
        at = naive.replace(tzinfo=filters.tz)
    return ("hour" if hourly else "day"), out


def _bucket_of(value: dt.datetime, unit: str, tz: ZoneInfo) -> dt.datetime:
    local = value.astimezone(tz)
    if unit == "day":
        local = local.replace(hour=0)
    return local.replace(minute=0, second=0, microsecond=0, tzinfo=None).replace(tzinfo=tz)


def _grouping_sets(
    qs: QuerySet[Any], columns: list[str], sets: list[tuple[str, ...]], aggregates: str
) -> list[tuple[Any, ...]]:
    """PostgreSQL: one scan of `qs` (its `columns`, as values_list), aggregated over several
    GROUPING SETS at once. Each row: (grouping bitmask, *grouped columns, *aggregates), the
    grouped columns being those named in `sets`, in the order of `columns`."""
    try:
        sql, params = qs.values_list(*columns).query.sql_with_params()
    except EmptyResultSet:  # e.g. a channel no inbox has: nothing to scan
        return []
    names = ", ".join(columns)
    keys = ", ".join(_grouped_columns(columns, sets))
    grouping = ", ".join(f"({', '.join(g)})" for g in sets)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT GROUPING({keys}), {keys}, {aggregates} FROM ({sql}) AS t({names}) "
            f"GROUP BY GROUPING SETS ({grouping})",
            params,
        )
        return list(cursor.fetchall())


def _local(value: dt.datetime, tz: ZoneInfo | None) -> dt.datetime:
    """A raw cursor gives date_trunc(… AT TIME ZONE tz) as the naive wall time in tz (the ORM's
    Trunc would have made it aware)."""
    return value.replace(tzinfo=tz) if value.tzinfo is None and tz is not None else value


def _grouped_columns(columns: list[str], sets: list[tuple[str, ...]]) -> list[str]:
    return [c for c in columns if any(c in g for g in sets)]


def _set_of(mask: int, columns: list[str]) -> tuple[str, ...]:
    """The columns a GROUPING() bitmask says were grouped (a 0 bit: grouped; the first column is the
    highest bit)."""
    n = len(columns)
    return tuple(c for i, c in enumerate(columns) if not mask & (1 << (n - 1 - i)))


def _timings(
    qs: QuerySet[Conversation], value: str | tuple[str, str], bucket: Func | None = None, tz: ZoneInfo | None = None
) -> dict[str, dict[Any, Timing]]:
    """Count, median and p90 of `value` (a column, or (later, earlier) timestamps: seconds
    between) in total, by assignee and by team: {"total": {None: t}, "agents": …, "teams": …};
    with `bucket` (PostgreSQL only), also the counts per bucket: "buckets": {bucket: t}."""
    groups = {"total": None, "agents": "assignee_id", "teams": "team_id"}
    out: dict[str, dict[Any, Timing]] = {name: {} for name in groups}
    if connection.vendor == "postgresql":
        expr = F(value) if isinstance(value, str) else _epoch_seconds_between(*value)
        columns = ["assignee_id", "team_id", "v"] + (["b"] if bucket is not None else [])
        sets: list[tuple[str, ...]] = [(), ("assignee_id",), ("team_id",)] + ([("b",)] if bucket is not None else [])
        annotated = qs.annotate(v=expr, **({"b": bucket} if bucket is not None else {}))
        out["buckets"] = {}
        rows = _grouping_sets(
            annotated,
            columns,
            sets,
            "count(*), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v)",
        )
        keys = _grouped_columns(columns, sets)
        for row in rows:
            grouped = _set_of(row[0], keys)
            n, p = row[-2], row[-1]
            timing = Timing(n, float(p[0]) if p else None, float(p[1]) if p else None)
            if not grouped:
                out["total"][None] = timing
            elif grouped == ("assignee_id",):
                out["agents"][row[1]] = timing
            elif grouped == ("team_id",):
                out["teams"][row[2]] = timing
            else:
                out["buckets"][_local(row[3], tz)] = timing
        out["total"].setdefault(None, Timing(0, None, None))
        return out
    fields = ("assignee_id", "team_id", value) if isinstance(value, str) else ("assignee_id", "team_id", *value)
    values: dict[str, dict[Any, list[float]]] = {name: defaultdict(list) for name in groups}
    values["total"][None] = []
    for row in qs.values_list(*fields):
        seconds = float(row[2]) if isinstance(value, str) else (row[2] - row[3]).total_seconds()
        values["total"][None].append(seconds)
        values["agents"][row[0]].append(seconds)
        values["teams"][row[1]].append(seconds)
    return {
        name: {key: Timing(len(v), percentile(v, QUANTILES[0]), percentile(v, QUANTILES[1])) for key, v in by.items()}
        for name, by in values.items()
    }


def _volume(
    created: QuerySet[Conversation], tz: ZoneInfo
) -> tuple[list[tuple[Any, int, int]], dict[str, dict[Any, int]]]:
    """Conversations created: (hour, inbox, n) rows, and the counts by assignee and by team —
    one scan on PostgreSQL (GROUPING SETS), three elsewhere."""
    hour = TruncHour("created_at", tzinfo=tz)
    if connection.vendor == "postgresql":
        columns = ["b", "inbox_id", "assignee_id", "team_id"]
        rows = _grouping_sets(
            created.annotate(b=hour), columns, [("b", "inbox_id"), ("assignee_id",), ("team_id",)], "count(*)"
        )
        hourly: list[tuple[Any, int, int]] = []
        by: dict[str, dict[Any, int]] = {"agents": {}, "teams": {}}
        for mask, b, inbox_id, assignee_id, team_id, n in rows:
            grouped = _set_of(mask, columns)
            if grouped == ("b", "inbox_id"):
                hourly.append((_local(b, tz), inbox_id, n))
            elif grouped == ("assignee_id",):
                by["agents"][assignee_id] = n
            else:
                by["teams"][team_id] = n
        return hourly, by
    hourly = list(
        created.annotate(b=hour).values("b", "inbox_id").annotate(n=Count("id")).values_list("b", "inbox_id", "n")
    )
    return hourly, {
        "agents": dict(created.values("assignee_id").annotate(n=Count("id")).values_list("assignee_id", "n")),
        "teams": dict(created.values("team_id").annotate(n=Count("id")).values_list("team_id", "n")),
    }


def report(filters: ReportFilters) -> dict[str, Any]:
    """The whole report for `filters` (see the module's docstring), as JSON-ready data."""
    unit, buckets = _buckets(filters)
    tz = filters.tz
    scoped = _scoped(filters)
    trunc = TruncHour if unit == "hour" else TruncDay
    channels = dict(Inbox.objects.values_list("id", "channel"))

    # Volume: created in the period, by (hour, inbox): days and hours of the day in Python.
    created = scoped.filter(_in_period("created_at", filters))
    hourly, created_by = _volume(created, tz)
    volume: dict[str, list[int]] = {}
    by_hour: dict[str, list[int]] = {}
    index = {b: i for i, b in enumerate(buckets)}
    for row in hourly:
        channel = channels.get(row[1], "other")
        volume.setdefault(channel, [0] * len(buckets))
        by_hour.setdefault(channel, [0] * 24)
        local = row[0].astimezone(tz)
        slot = index.get(_bucket_of(local, unit, tz))
        if slot is not None:
            volume[channel][slot] += row[2]
        by_hour[channel][local.hour] += row[2]
    created_total = sum(sum(v) for v in volume.values())

    first_response = _timings(
        scoped.filter(_in_period("first_response_at", filters)).exclude(first_response_seconds=None),
        "first_response_seconds",
    )
    resolved_qs = scoped.filter(_in_period("resolved_at", filters))
    resolution = _timings(resolved_qs, ("resolved_at", "created_at"), bucket=trunc("resolved_at", tzinfo=tz), tz=tz)

    # Backlog at the end of each bucket: open at the start, + created, - resolved since.
    open_at_start = (
        scoped.filter(resolved_at__isnull=True, created_at__lt=filters.start).count()
        + scoped.filter(resolved_at__gte=filters.start, created_at__lt=filters.start).count()
    )
    resolved_in = [0] * len(buckets)
    per_bucket = (
        [(b, t.count) for b, t in resolution["buckets"].items()]
        if "buckets" in resolution
        else resolved_qs.annotate(b=trunc("resolved_at", tzinfo=tz))
        .values("b")
        .annotate(n=Count("id"))
        .values_list("b", "n")
    )
    for b, n in per_bucket:
        slot = index.get(_bucket_of(b, unit, tz))
        if slot is not None:
            resolved_in[slot] += n
    backlog, level = [], open_at_start
    for slot in range(len(buckets)):
        level += sum(v[slot] for v in volume.values()) - resolved_in[slot]
        backlog.append(level)

    sla = metric("sla", filters)
    csat = metric("csat", filters)
    return {
        "period": {
            "from": filters.start.isoformat(),
            "to": filters.end.isoformat(),
            "tz": str(tz),
            "bucket": unit,
        },
        "filters": {
            "team": filters.team_id,
            "agent": filters.agent_id,
            "inboxes": list(filters.inbox_ids) if filters.inbox_ids is not None else None,
        },
        "summary": {
            "created": created_total,
            "resolved": resolution["total"][None].count,
            "first_response": first_response["total"][None].as_dict(),
            "resolution": resolution["total"][None].as_dict(),
            "backlog_start": open_at_start,
            "backlog_end": backlog[-1] if backlog else open_at_start,
            "sla": _metric_summary(sla),
            "csat": _metric_summary(csat),
        },
        "buckets": [b.isoformat() for b in buckets],
        "volume": volume,
        "by_hour": by_hour,
        "resolved": resolved_in,
        "backlog": backlog,
        "agents": _rows("agents", created_by, first_response, resolution, sla, csat, filters),
        "teams": _rows("teams", created_by, first_response, resolution, sla, csat, filters),
    }


def _metric_summary(result: MetricResult | None) -> dict[str, Any] | None:
    return None if result is None else {"value": result.value, "count": result.count}


def _rows(
    kind: str,
    created: dict[str, dict[Any, int]],
    first_response: dict[str, dict[Any, Timing]],
    resolution: dict[str, dict[Any, Timing]],
    sla: MetricResult | None,
    csat: MetricResult | None,
    filters: ReportFilters,
) -> list[dict[str, Any]]:
    keys = set(created[kind]) | set(first_response[kind]) | set(resolution[kind])
    if kind == "agents" and filters.agent_id:
        keys &= {filters.agent_id}
    if kind == "teams" and filters.team_id:
        keys &= {filters.team_id}
    ids = [k for k in keys if k is not None]
    names = (
        {a.pk: a.name for a in Agent.objects.filter(pk__in=ids)}
        if kind == "agents"
        else dict(Team.objects.filter(pk__in=ids).values_list("id", "name"))
    )
    empty = Timing(0, None, None)
    rows = []
    for key in keys:
        by_sla = (sla.agents if kind == "agents" else sla.teams).get(key) if sla and key is not None else None
        by_csat = (csat.agents if kind == "agents" else csat.teams).get(key) if csat and key is not None else None
        rows.append(
            {
                "id": key,
                "name": names.get(key, "(deleted)")
                if key is not None
                else ("Unassigned" if kind == "agents" else "No team"),
                "created": created[kind].get(key, 0),
                "resolved": resolution[kind].get(key, empty).count,
                "first_response": first_response[kind].get(key, empty).as_dict(),
                "resolution": resolution[kind].get(key, empty).as_dict(),
                "sla": None if by_sla is None else {"value": by_sla[0], "count": by_sla[1]},
                "csat": None if by_csat is None else {"value": by_csat[0], "count": by_csat[1]},
            }
        )
    rows.sort(key=lambda r: (r["id"] is None, r["name"].lower(), r["id"] or 0))
    return rows


CSV_COLUMNS = [
    "scope",
    "id",
    "name",
    "created",
    "resolved",
    "first_response_count",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_count",
    "resolution_median_s",
    "resolution_p90_s",
    "sla_attainment",
    "csat",
]


def report_csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    """The report as CSV rows: a header, the total, every agent, every team; then the volume,
    resolved and backlog per bucket."""

    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"

    def metric_cell(m: dict[str, Any] | None) -> str:
        return "" if m is None or m["value"] is None else f"{m['value']:.4f}".rstrip("0").rstrip(".")

    rows: list[list[Any]] = [CSV_COLUMNS]
    s = data["summary"]
    entries = [("total", "", "All", s)]
    entries += [("agent", r["id"] or "", r["name"], r) for r in data["agents"]]
    entries += [("team", r["id"] or "", r["name"], r) for r in data["teams"]]
    for scope, key, name, r in entries:
        rows.append(
            [
                scope,
                key,
                name,
                r["created"],
                r["resolved"],
                r["first_response"]["count"],
                fmt(r["first_response"]["median"]),
                fmt(r["first_response"]["p90"]),
                r["resolution"]["count"],
                fmt(r["resolution"]["median"]),
                fmt(r["resolution"]["p90"]),
                metric_cell(r["sla"]),
                metric_cell(r["csat"]),
            ]
        )
    channels = sorted(data["volume"])
    rows.append([])
    rows.append(["bucket", *[f"created_{c}" for c in channels], "resolved", "backlog"])
    for i, bucket in enumerate(data["buckets"]):
        rows.append([bucket, *[data["volume"][c][i] for c in channels], data["resolved"][i], data["backlog"][i]])
    return rows
