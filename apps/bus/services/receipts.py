"""Delivery-status callbacks: journalled as receipts first, then applied to their message by
the registered delivery recorder, forward only, in the order they came.

A status webhook does one INSERT and answers. With the bus worker (production) the receipts are
applied by its receipt drain, in batches (one transaction, one bulk event insert per batch),
woken by the RECEIPTS doorbell; in the embedded default (eager tasks) they are applied at once,
after the receipt is committed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef

from apps.bus import doorbell, registry
from apps.bus.events import events_deferred
from apps.bus.models import StatusReceipt
from apps.conversations.models import Message
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock, xact_try_locks
from apps.gateways.base import DeliveryStatus

log = logging.getLogger(__name__)


def status_receipt_record(
    *,
    source: str,
    status: DeliveryStatus,
    payload: dict[str, Any] | None = None,
    message_ref: int | None = None,
    apply: bool | None = None,
) -> bool:
    """Record a delivery-status callback, then apply it. Out-of-order and repeated callbacks are safe.

    The receipt is committed on its own first (one row per status): it is the journal, so an
    error while applying loses nothing — the drain or the sweeper applies what is left. A
    callback for a message whose send has not been recorded yet waits there and is applied when
    the send is settled (`outbox_settle_sent`).

    `apply`: apply now (True), or leave it to the bus worker's receipt drain and ring its
    doorbell (False); by default now only where there is no bus worker (eager tasks). Returns
    True when it was applied now and the message's visible status changed.
    """
    if apply is None:
        apply = settings.CELERY_TASK_ALWAYS_EAGER
    record = dict(payload or {})
    record["_error_message"] = status.error_message
    receipt = StatusReceipt(
        source=source,
        provider_message_id=status.provider_message_id,
        status=status.status,
        error_code=status.error_code,
        payload=record,
        message_ref=message_ref,
    )
    if connection.vendor == "postgresql":
        # The INSERT and its RECEIPTS doorbell in one statement; a repeat writes nothing.
        if not doorbell.insert_ringing(
            receipt, conflict="ON CONSTRAINT status_receipt_dedupe", channel=None if apply else doorbell.RECEIPTS
        ):
            return False  # the same status for the same message again
    else:
        try:
            with transaction.atomic():
                receipt.save(force_insert=True)
                if not apply:
                    doorbell.ring(doorbell.RECEIPTS)
        except IntegrityError:
            return False  # the same status for the same message again
    if not apply:
        return False
    try:
        return status_receipts_apply(provider_message_id=status.provider_message_id)
    except Exception:  # noqa: BLE001 - the receipt is kept; the sweeper applies it
        log.exception(
            "applying status %s of %s failed; left for the sweeper", status.status, status.provider_message_id
        )
        return False


def status_receipts_drain(*, limit: int | None = None) -> tuple[int, int]:
    """Apply a batch of receipts whose message is known, in one transaction.

    Picks up to `limit` unapplied receipts (oldest first) whose provider id belongs to a
    message, takes the provider-message locks it can get without waiting (another drain, or a
    send being recorded, holds the rest: they are left for the next round), and applies those
    messages' receipts together: one locking read of the messages, one UPDATE, one event
    insert. Receipts for which no message has the provider id yet are marked `waiting` and
    never read by the drain again (`outbox_settle_sent` applies them when the send is recorded;
    the sweeper is the net). Returns (receipts handled: applied or set waiting, messages changed).
    """
    limit = limit or settings.BUS_BATCH_SIZE
    with transaction.atomic():
        fresh = list(
            StatusReceipt.objects.filter(applied=False, waiting=False)
            .order_by("id")  # the fresh-receipts index
            .annotate(known=Exists(Message.objects.filter(provider_id=OuterRef("provider_message_id"))))
            .values_list("id", "provider_message_id", "known")[:limit]
        )
        # No message has these provider ids yet: the receipts wait for their send to be recorded
        # (outbox_settle_sent applies them; the sweeper is the net) and are not read again here.
        unknown = [pk for pk, _, known in fresh if not known]
        if unknown:
            StatusReceipt.objects.filter(pk__in=unknown, applied=False).update(waiting=True)
        provider_ids = xact_try_locks(
            NAMESPACE_PROVIDER_MESSAGE, list(dict.fromkeys(pid for _, pid, known in fresh if known))
        )
        if not provider_ids:
            return len(unknown), 0
        receipts = list(
            StatusReceipt.objects.select_for_update(no_key=True)
            .filter(provider_message_id__in=provider_ids, applied=False)
            .order_by("id")
        )
        by_message: dict[str, list[DeliveryStatus]] = {}
        for r in receipts:
            by_message.setdefault(r.provider_message_id, []).append(
                DeliveryStatus(
                    provider_message_id=r.provider_message_id,
                    status=r.status,
                    error_code=r.error_code,
                    error_message=r.payload.get("_error_message", ""),
                )
            )
        with events_deferred():
            found = registry.delivery_recorder().statuses_many(by_message)
        applied = [r.pk for r in receipts if found.get(r.provider_message_id) is not None]
        StatusReceipt.objects.filter(pk__in=applied).update(applied=True)
        return len(applied) + len(unknown), sum(1 for moved in found.values() if moved)


@transaction.atomic
def status_receipts_apply(*, provider_message_id: str) -> bool:
    """Apply every receipt not applied yet to the message with this provider id, in order."""
    xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_message_id)  # see outbox_settle_sent
    receipts = list(
        StatusReceipt.objects.select_for_update(no_key=True)
        .filter(provider_message_id=provider_message_id, applied=False)
        .order_by("id")
    )
    if not receipts:
        return False
    statuses = [
        DeliveryStatus(
            provider_message_id=r.provider_message_id,
            status=r.status,
            error_code=r.error_code,
            error_message=r.payload.get("_error_message", ""),
        )
        for r in receipts
    ]
    recorder = registry.delivery_recorder()
    found = recorder.statuses(provider_message_id=provider_message_id, receipts=statuses)
    if found is None:
        return False  # no message has this provider id yet: the receipts wait for the send record
    StatusReceipt.objects.filter(pk__in=[r.pk for r in receipts]).update(applied=True)
    return found
