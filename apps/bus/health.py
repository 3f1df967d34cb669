"""The bus's health, read from the database when `/metrics` is scraped (docs/observability.md).

Every web and worker process shares one database, so figures read from it at scrape time are
right whichever process answers: the inbound journal's backlog, the outbox by channel and state,
recent sends by result, status receipts not applied, the event log's head. `bus_health` is the
one function that reads the bus's tables for this; the collector turns its answer (and the
Celery queue's length in Redis) into Prometheus metric families. Each query uses an index the
bus already has, except the unapplied status receipts (a full count; see `bus_health`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt

log = logging.getLogger(__name__)

SENDS_WINDOW = dt.timedelta(hours=1)
OUTBOX_STATES = ("pending", "retrying", "failed")


@dataclass
class BusHealth:
    inbound_pending: int = 0
    inbound_oldest_pending_age: float = 0.0  # seconds; 0 when nothing is pending
    inbound_flagged: int = 0
    inbound_failed: int = 0
    # (channel, "pending" | "retrying" | "failed") -> entries
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox_oldest_due_age: float = 0.0  # seconds the most overdue pending send has waited
    # (channel, message status) -> sends whose last attempt fell due within SENDS_WINDOW
    sends: dict[tuple[str, str], int] = field(default_factory=dict)
    status_receipts_unapplied: int = 0
    event_head: int = 0


def bus_health(*, now: dt.datetime | None = None) -> BusHealth:
    """What the bus's tables say now. Six queries, whatever the size of the tables but one:
    the count of unapplied status receipts has no index of its own (callbacks for messages that
    are not ours stay unapplied forever; a partial index `WHERE NOT applied` would make it one
    index scan — a migration for the bus's owner)."""
    now = now or timezone.now()
    health = BusHealth()

    inbound = InboundEntry.objects.filter(
        state__in=[InboundEntry.State.PENDING, InboundEntry.State.FLAGGED, InboundEntry.State.FAILED]
    ).aggregate(
        pending=Count("id", filter=Q(state=InboundEntry.State.PENDING)),
        flagged=Count("id", filter=Q(state=InboundEntry.State.FLAGGED)),
        failed=Count("id", filter=Q(state=InboundEntry.State.FAILED)),
        oldest=Min("received_at", filter=Q(state=InboundEntry.State.PENDING)),
    )
    health.inbound_pending = inbound["pending"]
    health.inbound_flagged = inbound["flagged"]
    health.inbound_failed = inbound["failed"]
    if inbound["oldest"] is not None:
        health.inbound_oldest_pending_age = max(0.0, (now - inbound["oldest"]).total_seconds())

    rows = (
        OutboxEntry.objects.filter(state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.FAILED])
        .values("message__channel", "state")
        .annotate(
            fresh=Count("id", filter=Q(attempts=0)),
            retried=Count("id", filter=Q(attempts__gt=0)),
        )
    )
    for row in rows:
        channel = row["message__channel"] or "unknown"
        if row["state"] == OutboxEntry.State.FAILED:
            health.outbox[(channel, "failed")] = row["fresh"] + row["retried"]
        else:
            health.outbox[(channel, "pending")] = row["fresh"]
            health.outbox[(channel, "retrying")] = row["retried"]
    oldest_due = OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING, next_attempt_at__lte=now).aggregate(
        oldest=Min("next_attempt_at")
    )["oldest"]
    if oldest_due is not None:
        health.outbox_oldest_due_age = max(0.0, (now - oldest_due).total_seconds())

    recent = (
        OutboxEntry.objects.filter(
            state__in=[OutboxEntry.State.DONE, OutboxEntry.State.FAILED], next_attempt_at__gte=now - SENDS_WINDOW
        )
        .values("message__channel", "message__status")
        .annotate(n=Count("id"))
    )
    for sent in recent:
        health.sends[(sent["message__channel"] or "unknown", sent["message__status"])] = sent["n"]

    health.status_receipts_unapplied = StatusReceipt.objects.filter(applied=False).count()
    health.event_head = Event.objects.aggregate(head=Max("id"))["head"] or 0
    return health


def celery_queue_length() -> dict[str, int] | None:
    """Tasks waiting in the Celery queue (Redis LLEN), or None when the broker is not Redis."""
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    # kombu keeps a queue's priorities in separate lists: "celery", "celery\x06\x163", …
    keys = [queue] + [f"{queue}\x06\x16{priority}" for priority in (3, 6, 9)]
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.llen(key)
            return {queue: sum(int(n) for n in pipe.execute())}
    finally:
        client.close()


class BusHealthCollector(Collector):
    """Prometheus collector over `bus_health` (and the Celery queue), computed at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, for the registry's collision check at registration (AppConfig.ready(),
        where the database must not be read)."""
        yield GaugeMetricFamily("supportdesk_bus_health_up", "")
        yield from self._families(BusHealth())
        yield GaugeMetricFamily("supportdesk_celery_queue_length", "", labels=["queue"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "supportdesk_bus_health_up", "1 when the bus's figures below could be read from the database"
        )
        try:
            health = bus_health()
        except Exception:  # noqa: BLE001 - a scrape must answer, and say what it could not read
            log.exception("bus health could not be read")
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from self._families(health)
        yield from self._celery()

    @staticmethod
    def _families(health: BusHealth) -> Iterator[GaugeMetricFamily]:
        def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, value=value)

        yield gauge(
            "supportdesk_bus_inbound_pending", "Inbound journal entries not processed yet", health.inbound_pending
        )
        yield gauge(
            "supportdesk_bus_inbound_oldest_pending_age_seconds",
            "Age of the oldest inbound journal entry not processed yet (0 when none)",
            health.inbound_oldest_pending_age,
        )
        stuck = GaugeMetricFamily(
            "supportdesk_bus_inbound_unprocessable",
            "Inbound journal entries set aside for an admin: flagged (malformed) or failed (gave up)",
            labels=["state"],
        )
        stuck.add_metric(["flagged"], health.inbound_flagged)
        stuck.add_metric(["failed"], health.inbound_failed)
        yield stuck
        outbox = GaugeMetricFamily(
            "supportdesk_bus_outbox",
            "Outbox entries by channel: pending (not tried yet), retrying (tried, will try again), failed",
            labels=["channel", "state"],
        )
        for (channel, state), count in sorted(health.outbox.items()):
            outbox.add_metric([channel, state], count)
        yield outbox
        yield gauge(
            "supportdesk_bus_outbox_oldest_due_age_seconds",
            "How long the most overdue pending send has been due (0 when none)",
            health.outbox_oldest_due_age,
        )
        sends = GaugeMetricFamily(
            "supportdesk_bus_sends_last_hour",
            "Sends whose last attempt fell due in the last hour, by channel and the message's status now",
            labels=["channel", "result"],
        )
        for (channel, result), count in sorted(health.sends.items()):
            sends.add_metric([channel, result], count)
        yield sends
        yield gauge(
            "supportdesk_bus_status_receipts_unapplied",
            "Delivery-status callbacks kept but not applied to a message (unknown or not yet recorded sid)",
            health.status_receipts_unapplied,
        )
        yield gauge("supportdesk_bus_event_log_head_id", "Newest event id in the event log", health.event_head)

    @staticmethod
    def _celery() -> Iterator[GaugeMetricFamily]:
        try:
            lengths = celery_queue_length()
        except Exception:  # noqa: BLE001
            log.warning("Celery queue length could not be read from the broker", exc_info=True)
            lengths = None
        if lengths is None:
            return
        family = GaugeMetricFamily(
            "supportdesk_celery_queue_length", "Tasks waiting in the Celery queue", labels=["queue"]
        )
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family
