"""The sweeper: re-dispatches work whose task was lost (broker down, worker killed), and runs
the periodic work the apps above registered (`registry.register_sweep`)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.bus import registry
from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt
from apps.bus.services.journal import inbound_drain
from apps.bus.services.outbox import outbox_deliver
from apps.bus.services.receipts import status_receipts_apply
from apps.conversations.models import Message

log = logging.getLogger(__name__)


def bus_sweep() -> dict[str, Any]:
    """One round of the sweep. Safe to run anywhere, any number of times.

    In production the bus worker (`run_bus`) drains the journal and sends the outbox on its own
    (it looks on a timer, so nothing waits on a lost doorbell); with TASKS_EAGER (the embedded
    default) this sweep is what picks up an entry whose processing or send failed."""
    result: dict[str, Any] = {"inbound": 0, "outbox": 0}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        result["inbound"], result["outbox"] = _eager_redo()
    result["statuses"] = status_receipts_sweep(
        stale=timezone.now() - dt.timedelta(seconds=settings.BUS_SWEEP_AFTER_SECONDS)
    )
    for sweep in registry.sweeps():
        try:
            result[sweep.name] = sweep.run()
        except Exception:  # noqa: BLE001 - one app's sweep never stops the others
            log.exception("sweep %s failed", sweep.name)
    return result


def _eager_redo() -> tuple[int, int]:
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.BUS_SWEEP_AFTER_SECONDS)
    inbound = 0
    if InboundEntry.objects.filter(state=InboundEntry.State.PENDING, received_at__lt=stale).exists():
        while True:
            claimed, processed = inbound_drain()
            inbound += processed
            if claimed < settings.BUS_BATCH_SIZE or not processed:
                break
    due = list(
        OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(attempts__gt=0) | Q(created_at__lt=stale))
        .order_by("id")
        .values_list("message_id", flat=True)[:1000]
    )
    for message_id in due:
        outbox_deliver(message_id=message_id)
    return inbound, len(due)


def status_receipts_sweep(*, stale: dt.datetime) -> int:
    """Apply delivery statuses whose first application failed after they were recorded."""
    provider_ids = list(
        StatusReceipt.objects.filter(
            applied=False,
            received_at__lt=stale,
            provider_message_id__in=Message.objects.filter(provider_id__isnull=False).values("provider_id"),
        )
        .values_list("provider_message_id", flat=True)
        .distinct()[:500]
    )
    for provider_id in provider_ids:
        status_receipts_apply(provider_message_id=provider_id)
    return len(provider_ids)


def events_prune() -> int:
    """Drop events older than the retention; the newest one always stays, so the log's
    position (and with it every client's resume point) never goes back to 0."""
    cutoff = timezone.now() - dt.timedelta(days=settings.EVENT_RETENTION_DAYS)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is None:
        return 0
    deleted, _ = Event.objects.filter(created_at__lt=cutoff, id__lt=newest).delete()
    return deleted
