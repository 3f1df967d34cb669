"""The inbound journal: durable intake before the provider is answered, then at-least-once,
idempotent processing through the channel's registered parser and receiver."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.bus import registry
from apps.bus.models import InboundEntry
from apps.gateways.base import MalformedPayload

log = logging.getLogger(__name__)


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


def inbound_process(*, entry_id: int) -> str:
    """Process one journal entry, and before it any older pending entry of the same sender.

    Runs at least once; idempotent: an entry that is no longer pending is left alone, and the
    rows of one sender are locked in id order so their messages keep the order they came in.
    Returns the entry's final state.
    """
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
            state = _process_one(item)
        return state if batch else InboundEntry.objects.get(pk=entry_id).state


def _process_one(entry: InboundEntry) -> str:
    channel = registry.inbound_channel(entry.channel)
    try:
        parsed = channel.parser().parse_inbound(entry.payload, raw=bytes(entry.raw or b""))
    except MalformedPayload as exc:
        return _flag(entry, str(exc))
    deliveries = [registry.Delivery(entry=entry, inbound=inbound) for inbound in parsed]
    channel.receiver(deliveries)  # inside the batch's transaction; an error undoes the batch
    unroutable = next((d.unroutable for d in deliveries if d.unroutable), "")
    if unroutable:
        return _flag(entry, unroutable)
    entry.state = InboundEntry.State.DONE
    entry.message = next((d.message for d in reversed(deliveries) if d.message is not None), None)
    entry.processed_at = timezone.now()
    entry.attempts += 1
    entry.save(update_fields=["state", "message", "processed_at", "attempts"])
    return entry.state


def _flag(entry: InboundEntry, reason: str) -> str:
    entry.state = InboundEntry.State.FLAGGED
    entry.flag_reason = reason[:500]
    entry.processed_at = timezone.now()
    entry.save(update_fields=["state", "flag_reason", "processed_at"])
    log.warning("inbound entry %s flagged: %s", entry.pk, reason)
    return entry.state


def inbound_record_failure(*, entry_id: int, error: str, give_up: bool) -> None:
    InboundEntry.objects.filter(pk=entry_id, state=InboundEntry.State.PENDING).update(
        last_error=error[:5000],
        state=InboundEntry.State.FAILED if give_up else InboundEntry.State.PENDING,
    )
