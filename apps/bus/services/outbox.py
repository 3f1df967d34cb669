"""The outbox: each queued reply is handed to its channel's gateway, and what happened is
recorded on the message by the registered delivery recorder (the conversations app)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.bus import registry
from apps.bus.models import OutboxEntry, StatusReceipt
from apps.conversations.models import Message
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.gateways.base import (
    DeliveryStatus,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)

log = logging.getLogger(__name__)

LEASE_SECONDS = 120


def outbox_enqueue(*, message_id: int, at: dt.datetime | None = None) -> OutboxEntry:
    """Queue a message for sending, in the caller's transaction; the send starts after commit."""
    entry = OutboxEntry.objects.create(message_id=message_id, next_attempt_at=at or timezone.now())
    transaction.on_commit(lambda: _dispatch(message_id))
    return entry


def _dispatch(message_id: int) -> None:
    from apps.bus.tasks import deliver_message

    try:
        deliver_message.delay(message_id)
    except Exception:  # noqa: BLE001 - the broker is down: the entry is durable, the sweeper sends it
        log.exception("could not queue the send of message %s; the sweeper will", message_id)


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, 300))


def outbox_deliver(*, message_id: int) -> str:
    """Send one queued message through its channel's gateway. Safe to call again.

    A lease (one UPDATE) makes sure one worker at a time sends a given message; a message
    already sent or failed is never sent again. Transient failures are rescheduled with
    backoff, permanent ones recorded on the message.
    Returns "sent", "retry", "failed" or "skipped".
    """
    now = timezone.now()
    claimed = (
        # Not before its backoff time: a retry scheduled by the sweeper and one scheduled with a
        # countdown must not turn one failure into two immediate sends.
        OutboxEntry.objects.filter(message_id=message_id, state=OutboxEntry.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + dt.timedelta(seconds=LEASE_SECONDS), attempts=F("attempts") + 1)
    )
    if not claimed:
        return "skipped"
    entry = OutboxEntry.objects.get(message_id=message_id)
    message = Message.objects.select_related("identity", "inbox").get(pk=message_id)
    identity = message.identity
    if identity is None:
        outbox_settle_failed(message_id=message_id, code="no_identity", text="no address to send to")
        return "failed"
    if identity.opted_out:
        outbox_settle_failed(message_id=message_id, code="opted_out", text="the customer has opted out")
        return "failed"
    inbox = message.inbox
    outbound = OutboundMessage(
        message_id=message.pk,
        channel=identity.kind,
        to=identity.address,
        sender=inbox.address,
        body=message.body,
        options=dict(inbox.config or {}),
    )
    try:
        channel = registry.sender_for(identity.kind)
        gateway = channel.gateway()
        if channel.build is not None:  # the channel adds what it needs (email: headers, files)
            outbound = channel.build(message=message, outbound=outbound)
        result = gateway.send(outbound)
    except PermanentSendError as exc:
        outbox_settle_failed(message_id=message_id, code=exc.code, text=exc.message)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - transient, or a gateway bug: bounded retries either way
        if not isinstance(exc, TransientSendError):
            log.exception("unexpected error sending message %s", message_id)
        if entry.attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
            outbox_settle_failed(message_id=message_id, code="gave_up", text=str(exc))
            return "failed"
        delay = _backoff(entry.attempts)
        OutboxEntry.objects.filter(pk=entry.pk).update(
            next_attempt_at=timezone.now() + delay, lease_until=None, last_error=str(exc)[:2000]
        )
        log.info("send of message %s failed (%s); retry %s in %s", message_id, exc, entry.attempts, delay)
        _schedule_retry(message_id, delay)
        return "retry"
    outbox_settle_sent(message_id=message_id, provider_id=result.provider_message_id, status=result.status)
    if getattr(gateway, "simulates_delivery", False):
        from apps.bus.services.receipts import status_receipt_record

        status_receipt_record(
            source="local",
            status=DeliveryStatus(provider_message_id=result.provider_message_id, status=Message.Status.DELIVERED),
            payload={"simulated": True},
        )
    return "sent"


def _schedule_retry(message_id: int, delay: dt.timedelta) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # in-process mode: the sweeper retries when the time has come
    from apps.bus.tasks import deliver_message

    try:
        deliver_message.apply_async((message_id,), countdown=delay.total_seconds())
    except Exception:  # noqa: BLE001
        log.exception("could not schedule retry of message %s; the sweeper will", message_id)


def _receipt_status(receipt: StatusReceipt) -> DeliveryStatus:
    return DeliveryStatus(
        provider_message_id=receipt.provider_message_id,
        status=receipt.status,
        error_code=receipt.error_code,
        error_message=receipt.payload.get("_error_message", ""),
    )


@transaction.atomic
def outbox_settle_sent(*, message_id: int, provider_id: str, status: str) -> None:
    """The provider accepted the send: record its id, then any callbacks that raced ahead."""
    # Serialised with status_receipts_apply on the provider id: a callback committed before
    # this is read below; one that comes after finds the message by its provider id.
    xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_id)
    receipts = list(StatusReceipt.objects.filter(provider_message_id=provider_id, applied=False).order_by("id"))
    registry.delivery_recorder().sent(
        message_id=message_id,
        provider_id=provider_id,
        status=status,
        receipts=[_receipt_status(r) for r in receipts],
    )
    if receipts:
        StatusReceipt.objects.filter(pk__in=[r.pk for r in receipts]).update(applied=True)
    OutboxEntry.objects.filter(message_id=message_id).update(state=OutboxEntry.State.DONE, lease_until=None)


@transaction.atomic
def outbox_settle_failed(*, message_id: int, code: str, text: str) -> None:
    """The provider refused for good (or we gave up): show it, never retry."""
    registry.delivery_recorder().failed(message_id=message_id, code=code, text=text)
    OutboxEntry.objects.filter(message_id=message_id).update(
        state=OutboxEntry.State.FAILED, last_error=f"{code}: {text}"[:2000], lease_until=None
    )
