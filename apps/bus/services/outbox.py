"""The outbox: each queued reply is handed to its channel's gateway exactly once, and what
happened is recorded on the message by the registered delivery recorder (conversations).

Exactly once, whatever dies when:
- A sender claims an entry with a short lease that it renews while the send runs; the claim
  itself records the attempt (`attempt_started_at`) before the provider is called.
- The provider's answer settles it: sent (done), refused for good (failed), or refused for now
  (retried with backoff, the attempt cleared: the provider did not take it).
- When the answer is lost — the sender died, or the request timed out after it was sent
  (`SendOutcomeUnknown`) — the attempt stays recorded. Whoever claims the entry next first finds
  out whether the provider has the message: a status callback that carried our message id
  (`StatusReceipt.message_ref`), else the gateway's own check (`Gateway.confirm`; Twilio lists
  its Messages). Only a provider that certainly never got it is sent to again.
With TASKS_EAGER (the embedded default and the tests) a queued message is sent right after its
transaction commits; in production the bus worker (`manage.py run_bus`) sends, woken by the
outbox doorbell.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Collection, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.bus import doorbell, registry
from apps.bus.models import OutboxEntry, StatusReceipt
from apps.bus.services.receipts import status_receipt_record
from apps.conversations.models import Message
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.core.logs import log_context
from apps.gateways.base import (
    DeliveryStatus,
    OutboundMessage,
    PermanentSendError,
    SendOutcomeUnknown,
    SendResult,
    TransientSendError,
)

log = logging.getLogger(__name__)

MAX_PROVIDER_CHECKS = 20

# This process's name on the leases it holds (renewed by run_bus while its sends run).
OWNER = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_owner_pid = os.getpid()


def lease_owner() -> str:
    global OWNER, _owner_pid
    if os.getpid() != _owner_pid:  # a forked child is another owner
        OWNER, _owner_pid = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}", os.getpid()
    return OWNER


def outbox_enqueue(*, message_id: int, at: dt.datetime | None = None) -> OutboxEntry:
    """Queue a message for sending, in the caller's transaction; the send starts after commit."""
    entry = OutboxEntry.objects.create(message_id=message_id, next_attempt_at=at or timezone.now())
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: outbox_deliver(message_id=message_id), robust=True)
    else:
        doorbell.ring(doorbell.OUTBOX)
    return entry


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, 300))


# --- claiming ------------------------------------------------------------------------------


def _due() -> Q:
    now = timezone.now()
    return Q(state=OutboxEntry.State.PENDING, next_attempt_at__lte=now) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )


def _claim_update(now: dt.datetime) -> dict:
    return {
        "lease_until": now + dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
        "lease_owner": lease_owner(),
        "attempts": F("attempts") + 1,
    }


def _claimable(kinds: Collection[str] | None, inbox_ids: Collection[int] | None) -> Q:
    """Which entries a sender may claim: the bus worker (kinds=None) everything but the kinds a
    connection-holding process sends itself (`registry.own_process_kinds`); that process only
    its own kinds, and only for the inboxes it is connected for (`inbox_ids`)."""
    if kinds is None:
        own = registry.own_process_kinds()
        return ~Q(message__identity__kind__in=own) if own else Q()
    claim = Q(message__identity__kind__in=list(kinds))
    if inbox_ids is not None:
        claim &= Q(message__inbox_id__in=list(inbox_ids))
    return claim


def outbox_claim(
    *, limit: int, kinds: Collection[str] | None = None, inbox_ids: Collection[int] | None = None
) -> list[tuple[int, dt.datetime | None]]:
    """Lease up to `limit` due entries to this process. Returns (message id, the start of an
    earlier attempt whose outcome is unknown, or None) for each, oldest first.

    `kinds` (and `inbox_ids`): claim only these identity kinds (and inboxes) — for a process
    that sends on connections it holds itself (XMPP's `run_xmpp`)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            OutboxEntry.objects.select_for_update(of=("self",), no_key=True, skip_locked=True)
            .filter(_due())
            .filter(_claimable(kinds, inbox_ids))
            .order_by("next_attempt_at", "id")
            .values_list("id", "message_id", "attempt_started_at")[:limit]
        )
        if not rows:
            return []
        fresh = [entry_id for entry_id, _, started in rows if started is None]
        in_doubt = [entry_id for entry_id, _, started in rows if started is not None]
        if fresh:  # the claim records the attempt, before the provider is called
            OutboxEntry.objects.filter(pk__in=fresh).update(attempt_started_at=now, **_claim_update(now))
        if in_doubt:  # keep the earlier attempt's start: the provider is asked about it first
            OutboxEntry.objects.filter(pk__in=in_doubt).update(**_claim_update(now))
    return [(message_id, started) for _, message_id, started in rows]


def _claim_one(message_id: int) -> tuple[bool, dt.datetime | None]:
    now = timezone.now()
    with transaction.atomic():
        row = (
            OutboxEntry.objects.select_for_update(of=("self",), no_key=True, skip_locked=True)
            .filter(_due(), message_id=message_id)
            .values_list("id", "attempt_started_at", "message__identity__kind")
            .first()
        )
        if row is None:
            return False, None
        if row[2] in registry.own_process_kinds():
            # Its connection-holding process sends it (run_xmpp): wake it, leave the entry.
            doorbell.ring(doorbell.OUTBOX)
            return False, None
        OutboxEntry.objects.filter(pk=row[0]).update(attempt_started_at=row[1] or now, **_claim_update(now))
    return True, row[1]


def outbox_renew_leases(message_ids: Sequence[int]) -> int:
    """Extend the leases this process holds on sends still running."""
    if not message_ids:
        return 0
    return OutboxEntry.objects.filter(
        message_id__in=list(message_ids), lease_owner=lease_owner(), state=OutboxEntry.State.PENDING
    ).update(lease_until=timezone.now() + dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))


# --- sending -------------------------------------------------------------------------------


def outbox_deliver(*, message_id: int) -> str:
    """Claim and send one queued message (the eager path, the tests). Safe to call again.

    Returns "sent", "retry", "failed" or "skipped" (not due, or another sender has it)."""
    claimed, in_doubt_since = _claim_one(message_id)
    if not claimed:
        return "skipped"
    return outbox_send_claimed(message_id=message_id, in_doubt_since=in_doubt_since)


def outbox_send_claimed(*, message_id: int, in_doubt_since: dt.datetime | None) -> str:
    """Send a message whose entry this process has leased."""
    message = Message.objects.select_related("identity", "inbox").get(pk=message_id)
    with log_context(message_id=message_id, conversation_id=message.conversation_id):
        result = _send_claimed(message, in_doubt_since)
        log.info("send of message %s: %s", message_id, result)
        return result


def _send_claimed(message: Message, in_doubt_since: dt.datetime | None) -> str:
    message_id = message.pk
    entry = OutboxEntry.objects.get(message_id=message_id)
    identity = message.identity
    if identity is None:
        outbox_settle_failed(message_id=message_id, code="no_identity", text="no address to send to")
        return "failed"
    if identity.opted_out and in_doubt_since is None:
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
        if in_doubt_since is not None:
            try:
                found = _provider_has(gateway, outbound, entry, in_doubt_since)
            except SendOutcomeUnknown:
                raise
            except TransientSendError as exc:
                # The provider could not tell yet: the earlier attempt is still in doubt (a plain
                # transient error would clear it, and the next try would send without asking).
                raise SendOutcomeUnknown(f"could not ask the provider: {exc}") from exc
            if found is not None:
                log.info("message %s had reached the provider before (%s): not sent again", message_id, found)
                outbox_settle_sent(message_id=message_id, provider_id=found.provider_message_id, status=found.status)
                return "sent"
            # The earlier attempt never arrived. Give up now if that was the last one allowed
            # (only now: while it was in doubt it might have been delivered).
            if entry.attempts > settings.OUTBOUND_MAX_ATTEMPTS:
                outbox_settle_failed(message_id=message_id, code="gave_up", text=entry.last_error or "no answer")
                return "failed"
            if identity.opted_out:
                outbox_settle_failed(message_id=message_id, code="opted_out", text="the customer has opted out")
                return "failed"
            _mark_attempt(entry.pk)  # this attempt starts now
        result = gateway.send(outbound)
    except PermanentSendError as exc:
        outbox_settle_failed(message_id=message_id, code=exc.code, text=exc.message)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - transient, unknown, or a gateway bug: bounded retries
        return _retry_later(entry, exc)
    outbox_settle_sent(message_id=message_id, provider_id=result.provider_message_id, status=result.status)
    if getattr(gateway, "simulates_delivery", False):
        status_receipt_record(
            source="local",
            status=DeliveryStatus(provider_message_id=result.provider_message_id, status=Message.Status.DELIVERED),
            payload={"simulated": True},
            apply=True,
        )
    return "sent"


def _provider_has(gateway, outbound: OutboundMessage, entry: OutboxEntry, since: dt.datetime) -> SendResult | None:  # type: ignore[no-untyped-def]
    """Whether an attempt whose outcome is unknown reached the provider (None: it did not)."""
    receipt = (
        StatusReceipt.objects.filter(message_ref=outbound.message_id).order_by("id").only("provider_message_id").first()
    )
    if receipt is not None:
        return SendResult(provider_message_id=receipt.provider_message_id, status=Message.Status.QUEUED)
    OutboxEntry.objects.filter(pk=entry.pk).update(provider_checks=F("provider_checks") + 1)
    return gateway.confirm(outbound, attempted_at=since)


def _mark_attempt(entry_id: int) -> None:
    OutboxEntry.objects.filter(pk=entry_id).update(attempt_started_at=timezone.now())


def _retry_later(entry: OutboxEntry, exc: BaseException) -> str:
    """Reschedule with backoff. An answer the provider gave (a 429, a refused connection) means
    it does not have the message; a lost answer (`SendOutcomeUnknown`) keeps the attempt in
    doubt, so the next try asks first — and the last allowed attempt is given up on only once
    the provider has said it never got it."""
    message_id = entry.message_id
    unknown = isinstance(exc, SendOutcomeUnknown)
    if not isinstance(exc, TransientSendError):
        log.exception("unexpected error sending message %s", message_id, exc_info=exc)
    if entry.attempts >= settings.OUTBOUND_MAX_ATTEMPTS and not unknown:
        outbox_settle_failed(message_id=message_id, code="gave_up", text=str(exc))
        return "failed"
    if unknown and entry.provider_checks >= MAX_PROVIDER_CHECKS:
        outbox_settle_failed(
            message_id=message_id,
            code="unknown_outcome",
            text=f"the provider could not tell whether it got this message: {exc}",
        )
        return "failed"
    delay = _backoff(entry.attempts)
    asked = getattr(exc, "retry_after", None)
    if asked:  # the provider said how long to wait (a 429's retry_after): never sooner
        delay = max(delay, dt.timedelta(seconds=float(asked)))
    changes: dict = {"next_attempt_at": timezone.now() + delay, "lease_until": None, "last_error": str(exc)[:2000]}
    if not unknown:
        changes["attempt_started_at"] = None  # the provider answered: it did not take the message
    OutboxEntry.objects.filter(pk=entry.pk).update(**changes)
    log.info(
        "send of message %s %s (%s); retry %s in %s",
        message_id,
        "has an unknown outcome" if unknown else "failed",
        exc,
        entry.attempts,
        delay,
    )
    return "retry"


# --- settling ------------------------------------------------------------------------------


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
    OutboxEntry.objects.filter(message_id=message_id).update(
        state=OutboxEntry.State.DONE, lease_until=None, attempt_started_at=None
    )


@transaction.atomic
def outbox_settle_failed(*, message_id: int, code: str, text: str) -> None:
    """The provider refused for good (or we gave up): show it, never retry."""
    registry.delivery_recorder().failed(message_id=message_id, code=code, text=text)
    OutboxEntry.objects.filter(message_id=message_id).update(
        state=OutboxEntry.State.FAILED, last_error=f"{code}: {text}"[:2000], lease_until=None, attempt_started_at=None
    )
