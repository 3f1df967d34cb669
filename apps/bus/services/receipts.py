"""Delivery-status callbacks: journalled as receipts first, then applied to their message by
the registered delivery recorder, forward only, in the order they came."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from apps.bus import registry
from apps.bus.models import StatusReceipt
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.gateways.base import DeliveryStatus

log = logging.getLogger(__name__)


def status_receipt_record(
    *, source: str, status: DeliveryStatus, payload: dict[str, Any] | None = None, message_ref: int | None = None
) -> bool:
    """Record a delivery-status callback, then apply it. Out-of-order and repeated callbacks are safe.

    The receipt is committed on its own first (one row per status): it is the journal, so an
    error while applying loses nothing — the sweeper applies what is left. A callback for a
    message whose send has not been recorded yet waits there and is applied when the send is
    settled (`outbox_settle_sent`). Returns True when the message's visible status changed.
    """
    record = dict(payload or {})
    record["_error_message"] = status.error_message
    try:
        with transaction.atomic():
            StatusReceipt.objects.create(
                source=source,
                provider_message_id=status.provider_message_id,
                status=status.status,
                error_code=status.error_code,
                payload=record,
                message_ref=message_ref,
            )
    except IntegrityError:
        return False  # the same status for the same message again
    try:
        return status_receipts_apply(provider_message_id=status.provider_message_id)
    except Exception:  # noqa: BLE001 - the receipt is kept; the sweeper applies it
        log.exception(
            "applying status %s of %s failed; left for the sweeper", status.status, status.provider_message_id
        )
        return False


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
