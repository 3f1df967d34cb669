"""Pluggable metrics of the reports whose data lives in other apps (SLA attainment, CSAT).

The reports do not know how SLA clocks or satisfaction surveys are stored. An app that keeps
them registers a source in its AppConfig.ready():

    from apps.reports.registry import register_metric
    register_metric("sla", sla_attainment)   # (filters: ReportFilters) -> MetricResult | None

A source answers for the report's filters (period, team, agent, inboxes) with a summary and,
optionally, per-agent and per-team values; None (or no source at all) means "no data": the page
shows "—" and the CSV leaves the cells empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

METRICS = ("sla", "csat")


@dataclass(frozen=True)
class ReportFilters:
    start: dt.datetime  # aware, inclusive
    end: dt.datetime  # aware, exclusive
    tz: ZoneInfo
    inbox_ids: tuple[int, ...] | None = None  # None: every inbox (a channel filter narrows it)
    team_id: int | None = None
    agent_id: int | None = None


@dataclass
class MetricResult:
    """`value` is what the page shows (a rate in 0..1 for sla, an average rating for csat);
    `count` the number of items it is over; agents/teams: id -> (value, count)."""

    value: float | None
    count: int
    agents: dict[int, tuple[float | None, int]] = field(default_factory=dict)
    teams: dict[int, tuple[float | None, int]] = field(default_factory=dict)


MetricSource = Callable[[ReportFilters], "MetricResult | None"]
_sources: dict[str, MetricSource] = {}


def register_metric(name: str, source: MetricSource) -> None:
    if name not in METRICS:
        raise ValueError(f"unknown report metric {name!r} (one of {', '.join(METRICS)})")
    _sources[name] = source


def unregister_metric(name: str) -> None:
    _sources.pop(name, None)


def metric_source(name: str) -> MetricSource | None:
    """The source registered for `name` (tests put it back after plugging in a variant)."""
    return _sources.get(name)


def metric(name: str, filters: ReportFilters) -> MetricResult | None:
    source = _sources.get(name)
    return source(filters) if source is not None else None
