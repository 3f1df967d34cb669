"""The bus: durable intake, at-least-once idempotent processing, the outbox and the sweeper."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt
from apps.conversations.models import Message
from apps.gateways.base import (
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    Unroutable,
)

log = logging.getLogger(__name__)


# --- intake --------------------------------------------------------------------------------


def inbound_accept(
    *,
    source: str,
    provider_message_id: str,
    channel: str,
    sender: str,
    payload: Mapping[str, list[str]],
    raw: bytes,
    flag_reason: str = "",
) -> tuple[InboundEntry | None, bool]:
    """Make an inbound delivery durable. Returns (entry, created); a redelivery is not created.

    This is all a webhook does before it answers: one INSERT, deduplicated by the
    (source, provider_message_id) constraint, and the processing task queued after commit.
    """
    try:
        with transaction.atomic():
            entry = InboundEntry.objects.create(
                source=source,
                provider_message_id=provider_message_id,
                channel=channel,
                sender=sender[:320],
                payload=dict(payload),
                raw=raw,
                state=InboundEntry.State.FLAGGED if flag_reason else InboundEntry.State.PENDING,
                flag_reason=flag_reason[:500],
            )
            if not flag_reason:
                transaction.on_commit(lambda: _dispatch_inbound(entry.pk))
    except IntegrityError:
        return None, False
    if flag_reason:
        log.warning("inbound %s %s flagged: %s", source, provider_message_id, flag_reason)
    return entry, True


def _dispatch_inbound(entry_id: int) -> None:
    from apps.bus.tasks import process_inbound

    try:
        process_inbound.delay(entry_id)
    except Exception:  # noqa: BLE001 - the broker is down: the entry is durable, the sweeper retries
        log.exception("could not queue inbound entry %s; the sweeper will pick it up", entry_id)


def inbox_for_inbound(channel: str, inbound: InboundMessage) -> Inbox | None:
    inbox_channel = Inbox.Channel.SMS if channel == "sms" else channel
    return Inbox.objects.filter(channel=inbox_channel, address=inbound.recipient).order_by("id").first()


def inbound_process(*, entry_id: int) -> str:
    """Process one journal entry, and before it any older pending entry of the same sender.

    Runs at least once; idempotent: an entry that is no longer pending is left alone, and the
    rows of one sender are locked in id order so their messages keep the order they came in.
    Returns the entry's final state.
    """
    from apps.gateways.registry import inbound_gateway_for

    with transaction.atomic():
        entry = InboundEntry.objects.filter(pk=entry_id).only("id", "source", "sender", "state").first()
        if entry is None or entry.state != InboundEntry.State.PENDING:
            return entry.state if entry else "missing"
        batch = list(
            InboundEntry.objects.select_for_update(no_key=True)
            .filter(source=entry.source, sender=entry.sender, state=InboundEntry.State.PENDING, id__lte=entry.pk)
            .order_by("id")
        )
        state: str = InboundEntry.State.DONE
        for item in batch:
            state = _process_one(item, inbound_gateway_for(item.channel))
        return state if batch else InboundEntry.objects.get(pk=entry_id).state


def _process_one(entry: InboundEntry, gateway) -> str:  # type: ignore[no-untyped-def]
    from apps.conversations.services import message_receive

    now = timezone.now()
    try:
        inbound_messages = gateway.parse_inbound(entry.payload, raw=bytes(entry.raw or b""))
    except MalformedPayload as exc:
        entry.state = InboundEntry.State.FLAGGED
        entry.flag_reason = str(exc)[:500]
        entry.processed_at = now
        entry.save(update_fields=["state", "flag_reason", "processed_at"])
        log.warning("inbound entry %s flagged: %s", entry.pk, exc)
        return entry.state
    from apps.gateways.registry import receiver_for

    receiver = receiver_for(entry.channel)
    message = None
    for inbound in inbound_messages:
        if receiver is not None:
            # The channel threads and routes its own messages (email: reply tokens, headers).
            try:
                with transaction.atomic():
                    message = receiver(entry=entry, inbound=inbound)
            except Unroutable as exc:
                return _flag(entry, str(exc), now)
            continue
        inbox = (
            Inbox.objects.filter(pk=inbound.inbox_id).first()
            if inbound.inbox_id is not None
            else inbox_for_inbound(entry.channel, inbound)
        )
        if inbox is None:
            return _flag(entry, f"no {entry.channel} inbox has the address {inbound.recipient!r}", now)
        with transaction.atomic():
            message, _ = message_receive(inbox=inbox, inbound=inbound, received_at=entry.received_at)
    entry.state = InboundEntry.State.DONE
    entry.message = message
    entry.processed_at = now
    entry.attempts += 1
    entry.save(update_fields=["state", "message", "processed_at", "attempts"])
    return entry.state


def _flag(entry: InboundEntry, reason: str, now: dt.datetime) -> str:
    entry.state = InboundEntry.State.FLAGGED
    entry.flag_reason = reason[:500]
    entry.processed_at = now
    entry.save(update_fields=["state", "flag_reason", "processed_at"])
    log.warning("inbound entry %s flagged: %s", entry.pk, reason)
    return entry.state


def inbound_record_failure(*, entry_id: int, error: str, give_up: bool) -> None:
    InboundEntry.objects.filter(pk=entry_id, state=InboundEntry.State.PENDING).update(
        last_error=error[:5000],
        state=InboundEntry.State.FAILED if give_up else InboundEntry.State.PENDING,
    )


# --- outbox --------------------------------------------------------------------------------

LEASE_SECONDS = 120


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, 300))


def outbox_deliver(*, message_id: int) -> str:
    """Send one queued message through its channel's gateway. Safe to call again.

    A lease (one UPDATE) makes sure one worker at a time sends a given message; a message
    already sent or failed is never sent again. Transient failures are rescheduled with
    backoff, permanent ones recorded on the message.
    Returns "sent", "retry", "failed" or "skipped".
    """
    from apps.conversations.services import message_mark_sent, message_send_failed
    from apps.gateways.registry import gateway_for, outbound_builder_for

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
    entry = OutboxEntry.objects.select_related("message__identity", "message__inbox").get(message_id=message_id)
    message = entry.message
    identity = message.identity
    if identity is None:
        message_send_failed(message_id=message_id, code="no_identity", text="no address to send to")
        return "failed"
    if identity.opted_out:
        message_send_failed(message_id=message_id, code="opted_out", text="the customer has opted out")
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
    gateway = gateway_for(identity.kind)
    builder = outbound_builder_for(identity.kind)
    try:
        if builder is not None:  # the channel adds what it needs (email: headers, files)
            outbound = builder(message=message, outbound=outbound)
        result = gateway.send(outbound)
    except PermanentSendError as exc:
        message_send_failed(message_id=message_id, code=exc.code, text=exc.message)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - transient, or a gateway bug: bounded retries either way
        if not isinstance(exc, TransientSendError):
            log.exception("unexpected error sending message %s", message_id)
        if entry.attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
            message_send_failed(message_id=message_id, code="gave_up", text=str(exc))
            return "failed"
        delay = _backoff(entry.attempts)
        OutboxEntry.objects.filter(pk=entry.pk).update(
            next_attempt_at=timezone.now() + delay, lease_until=None, last_error=str(exc)[:2000]
        )
        log.info("send of message %s failed (%s); retry %s in %s", message_id, exc, entry.attempts, delay)
        _schedule_retry(message_id, delay)
        return "retry"
    message_mark_sent(message_id=message_id, provider_id=result.provider_message_id, status=result.status)
    if getattr(gateway, "simulates_delivery", False):
        from apps.conversations.services import message_status_apply
        from apps.gateways.base import DeliveryStatus

        message_status_apply(
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


# --- sweeper -------------------------------------------------------------------------------


def bus_sweep() -> dict[str, int]:
    """Re-dispatch work whose task was lost (broker down, worker killed). Safe to run anywhere."""
    from apps.bus.tasks import deliver_message, process_inbound

    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.BUS_SWEEP_AFTER_SECONDS)
    inbound_ids = list(
        InboundEntry.objects.filter(state=InboundEntry.State.PENDING, received_at__lt=stale)
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    outbox_ids = list(
        OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(next_attempt_at__gt=now)
        .filter(Q(attempts__gt=0) | Q(created_at__lt=stale))
        .order_by("id")
        .values_list("message_id", flat=True)[:1000]
    )
    for entry_id in inbound_ids:
        process_inbound.delay(entry_id)
    for message_id in outbox_ids:
        deliver_message.delay(message_id)
    return {
        "inbound": len(inbound_ids),
        "outbox": len(outbox_ids),
        "attachments": attachments_sweep(now=now, stale=stale),
        "statuses": status_receipts_sweep(stale=stale),
    }


ATTACHMENT_GIVE_UP = dt.timedelta(days=1)


def attachments_sweep(*, now: dt.datetime, stale: dt.datetime) -> int:
    """Fetch again media whose fetch was lost or hit a transient error; give up after a day."""
    from apps.bus.tasks import fetch_attachment
    from apps.conversations.models import Attachment

    pending = Attachment.objects.filter(file="", error="").exclude(source_url="")
    pending.filter(created_at__lt=now - ATTACHMENT_GIVE_UP).update(
        error="The media could not be fetched from the provider (gave up after a day)."
    )
    ids = list(pending.filter(created_at__lt=stale).order_by("id").values_list("id", flat=True)[:500])
    for attachment_id in ids:
        fetch_attachment.delay(attachment_id)
    return len(ids)


def events_prune() -> int:
    """Drop events older than the retention; the newest one always stays, so the log's
    position (and with it every client's resume point) never goes back to 0."""
    cutoff = timezone.now() - dt.timedelta(days=settings.EVENT_RETENTION_DAYS)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is None:
        return 0
    deleted, _ = Event.objects.filter(created_at__lt=cutoff, id__lt=newest).delete()
    return deleted


def status_receipts_sweep(*, stale: dt.datetime) -> int:
    """Apply delivery statuses whose first application failed after they were recorded."""
    from apps.conversations.models import Message
    from apps.conversations.services import status_receipts_apply

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
