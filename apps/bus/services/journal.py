"""The inbound journal: durable intake before the provider is answered, then at-least-once,
idempotent processing in batches, through each channel's registered parser and receiver.

Intake is one INSERT (deduplicated by the (source, provider_message_id) constraint) that rings
the inbound doorbell in its transaction. The bus worker (`manage.py run_bus`) drains the
journal: drainers take turns (`_CLAIM_SQL`), and each claims pending entries in journal order
with `FOR NO KEY UPDATE SKIP LOCKED` (so a stuck one is drained beside and a crashed one's
entries go back at once), stores a whole
batch in one transaction with one INSERT of its events, and marks the batch done. A customer's
messages keep their order: an entry whose sender has an older pending entry outside the batch
(another drainer has it, or it waits for a retry) is left for later.

With TASKS_EAGER (the embedded default and the tests) an entry is processed right after its
intake commits, in the same process, by the same batch code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.utils import timezone

from apps.bus import doorbell, registry
from apps.bus.events import events_deferred
from apps.bus.models import InboundEntry
from apps.core import rawsql
from apps.core.pg_prepared import prepared_cursor
from apps.gateways.base import Gateway, MalformedPayload

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10


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
    (source, provider_message_id) constraint, and the doorbell that wakes the drain.
    """
    entry = InboundEntry(
        source=source,
        provider_message_id=provider_message_id,
        channel=channel,
        sender=sender[:320],
        payload=dict(payload),
        raw=raw,
        state=InboundEntry.State.FLAGGED if flag_reason else InboundEntry.State.PENDING,
        flag_reason=flag_reason[:500],
    )
    if rawsql.supported() and not settings.CELERY_TASK_ALWAYS_EAGER:
        # One statement (BEGIN, INSERT, NOTIFY and COMMIT were four round trips).
        if not doorbell.insert_ringing(
            entry, conflict="(source, provider_message_id)", channel=None if flag_reason else doorbell.INBOUND
        ):
            return None, False
        if flag_reason:
            log.warning("inbound %s %s flagged: %s", source, provider_message_id, flag_reason)
        return entry, True
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
            if not flag_reason:
                if settings.CELERY_TASK_ALWAYS_EAGER:
                    transaction.on_commit(lambda: inbound_process(entry_id=entry.pk), robust=True)
                else:
                    doorbell.ring(doorbell.INBOUND)
    except IntegrityError:
        return None, False
    if flag_reason:
        log.warning("inbound %s %s flagged: %s", source, provider_message_id, flag_reason)
    return entry, True


def inbound_process(*, entry_id: int) -> str:
    """Process one journal entry now, and before it any older pending entry of its sender.

    Idempotent: an entry that is no longer pending is left alone. Returns its state.
    """
    batch: list[InboundEntry] = []
    try:
        with transaction.atomic():
            entry = InboundEntry.objects.filter(pk=entry_id).only("id", "source", "sender", "state").first()
            if entry is None or entry.state != InboundEntry.State.PENDING:
                return entry.state if entry else "missing"
            batch = list(
                InboundEntry.objects.select_for_update(no_key=True)
                .filter(source=entry.source, sender=entry.sender, state=InboundEntry.State.PENDING, id__lte=entry.pk)
                .order_by("id")
            )
            with events_deferred() as along:
                _store(batch, along)
            return next(e.state for e in batch if e.pk == entry_id)
    except DATABASE_TROUBLE:
        raise
    except Exception as exc:  # noqa: BLE001 - undone; each entry alone, so the bad one is found
        _one_by_one(batch, exc)
    return InboundEntry.objects.values_list("state", flat=True).get(pk=entry_id)


@dataclass
class TurnWatch:
    """A bus worker's drainer that steps back when another drainer has the turn (PostgreSQL):
    the oldest due pending entry it saw then, and since when it has seen that same one."""

    oldest: int | None = None
    since: float = 0.0
    stepped_back: bool = False  # the last drain found the turn taken and did nothing


def inbound_drain(*, limit: int | None = None, watch: TurnWatch | None = None) -> tuple[int, int]:
    """Claim up to `limit` pending entries (journal order) and process them as one batch.

    Returns (claimed, processed): nothing claimed means nothing is pending for this drainer;
    claimed but none processed means what it found waits behind another drainer or a retry.
    A batch that fails is undone and its entries are processed one by one, so that the bad
    one alone is retried later (and its sender's later entries wait behind it).

    With a `watch` (the bus worker's loop), a drainer that finds another drainer's batch
    running steps back at once, (0, 0) and `watch.stepped_back`, instead of waiting for the
    turn: that drainer listens to the same doorbell and drains what came meanwhile after its
    batch. Only when the oldest due pending entry has stayed the same for
    BUS_DRAIN_TURN_WAIT_SECONDS (the other is stuck) does it drain beside it.
    """
    limit = limit or settings.BUS_BATCH_SIZE
    now = timezone.now()
    claimed: list[InboundEntry] = []
    batch: list[InboundEntry] = []
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                claimed = _claim_in_sender_order(now, limit, watch)
                batch = [e for e in claimed if e.blocked_by is None]  # type: ignore[attr-defined]
            else:
                claimed = list(
                    InboundEntry.objects.select_for_update(no_key=True, skip_locked=True)
                    .filter(state=InboundEntry.State.PENDING)
                    .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
                    .order_by("id")[:limit]
                )
                batch = _in_sender_order(claimed) if claimed else []
            if not claimed:
                return 0, 0
            with events_deferred() as along:
                _store(batch, along)
            return len(claimed), len(batch)
    except DATABASE_TROUBLE:
        raise  # the database, not an entry: nothing to record; the drain tries again
    except Exception as exc:  # noqa: BLE001
        return len(claimed), _one_by_one(batch, exc)


DRAIN_TURN_KEY = 0x5D5E0002  # one-bigint advisory key, beside the event-order lock's
TURN_POLL_SECONDS = 0.003

# Drainers take turns: one batch at a time across the bus workers (PostgreSQL). Two drainers at
# once mostly wait on each other's row locks (a customer's contact and conversation, the agents'
# presence rows, the event-order lock) in the middle of their batches; taking turns costs less
# and keeps the tail short (bench: 100 msg/s webhook→console p99 185 ms with two drainers side
# by side, 89 ms with one). The turn is a transaction-scoped advisory lock, tried (never waited
# on: no lock timeout to set and undo, no error to recover from) by the claim statement itself,
# so that a one-message drain pays one round trip for both. A drainer without the turn either
# steps back (the bus worker's loop: `TurnWatch`) or tries again every TURN_POLL_SECONDS; after
# BUS_DRAIN_TURN_WAIT_SECONDS without progress the holder is stuck (a stopped or paused process),
# and it drains beside it (`beside`) as before — SKIP LOCKED and the sender-order check keep
# that safe.
#
# The claim and the sender-order check are one statement too: each claimed entry comes with the
# oldest pending entry of its sender that is older and not claimed: it waits behind it. With the
# turn not held, the one row that comes back says so (held false, no entry) and gives the oldest
# pending entry that a drainer could take (due, not behind an older one of its sender), for the
# stuck-holder check: while a drainer drains, that one changes from batch to batch.
_CLAIM_SQL = """WITH turn AS (SELECT pg_try_advisory_xact_lock(%(turn)s) OR %(beside)s AS held),
claimed AS (
    SELECT * FROM "bus_inboundentry"
     WHERE (SELECT held FROM turn)
       AND state = %(pending)s AND (retry_at IS NULL OR retry_at <= %(now)s)
     ORDER BY id
     LIMIT %(limit)s
       FOR NO KEY UPDATE SKIP LOCKED
)
SELECT turn.held,
       CASE WHEN turn.held THEN NULL ELSE (
           SELECT min(e.id) FROM "bus_inboundentry" e
            WHERE e.state = %(pending)s AND (e.retry_at IS NULL OR e.retry_at <= %(now)s)
              AND NOT EXISTS (
                  SELECT 1 FROM "bus_inboundentry" o
                   WHERE o.source = e.source AND o.sender = e.sender AND o.state = %(pending)s AND o.id < e.id)
       ) END AS oldest,
       {columns}, (
    SELECT min(o.id) FROM "bus_inboundentry" o
     WHERE o.source = c.source AND o.sender = c.sender AND o.state = %(pending)s
       AND o.id < c.id AND o.id NOT IN (SELECT id FROM claimed)
) AS blocked_by
  FROM turn LEFT JOIN claimed c ON true
 ORDER BY c.id
"""
_claim_sql: str | None = None


def _claim_in_sender_order(now: dt.datetime, limit: int, watch: TurnWatch | None = None) -> list[InboundEntry]:
    """Take the drain turn and claim up to `limit` pending entries (PostgreSQL); each has
    `blocked_by`: None, or the id of an older pending entry of its sender outside the claim
    (another drainer holds it, or it waits for a retry), which it must wait for. With a
    `watch`, the turn taken by another drainer that is not stuck claims nothing (see
    inbound_drain)."""
    global _claim_sql
    if _claim_sql is None:
        _claim_sql = _CLAIM_SQL.replace("{columns}", rawsql.columns_sql(InboundEntry, "c"))
    params = {
        "turn": DRAIN_TURN_KEY,
        "beside": False,
        "pending": InboundEntry.State.PENDING,
        "now": now,
        "limit": limit,
    }
    wait = settings.BUS_DRAIN_TURN_WAIT_SECONDS
    deadline = time.monotonic() + wait
    if watch is not None:
        watch.stepped_back = False
    # Prepared (apps.core.pg_prepared): PostgreSQL took 0.7 ms to plan this statement and
    # 0.2 ms to run it; every drain runs it.
    with prepared_cursor(connection) as cursor:
        while True:
            cursor.execute(_claim_sql, params)
            rows = cursor.fetchall()
            if rows[0][0]:
                break
            if watch is not None:
                oldest, at = rows[0][1], time.monotonic()
                if oldest is None or oldest != watch.oldest:  # nothing due, or the holder moves on
                    watch.oldest, watch.since = oldest, at
                if oldest is None or at - watch.since < wait:
                    watch.stepped_back = True
                    return []
            elif time.monotonic() < deadline:
                time.sleep(TURN_POLL_SECONDS)
                continue
            log.warning("bus drain: no turn within %.1f s (a drainer is stuck); draining beside it", wait)
            params["beside"] = True
    if watch is not None:
        watch.oldest = None
    entries = [row for row in rows if row[2] is not None]  # the one row of an empty claim has no entry
    claimed = rawsql.instances(InboundEntry, [row[2:-1] for row in entries], "c")
    for entry, row in zip(claimed, entries, strict=True):
        entry.blocked_by = row[-1]  # type: ignore[attr-defined]
    return claimed


def _in_sender_order(claimed: list[InboundEntry]) -> list[InboundEntry]:
    """The claimed entries whose sender has no older pending entry outside the claim."""
    ids = {e.pk for e in claimed}
    older = (
        InboundEntry.objects.filter(
            state=InboundEntry.State.PENDING,
            sender__in={e.sender for e in claimed},
            id__lt=max(ids),
        )
        .exclude(id__in=ids)
        .values_list("source", "sender", "id")
    )
    first_blocker: dict[tuple[str, str], int] = {}
    for source, sender, entry_id in older:
        key = (source, sender)
        first_blocker[key] = min(entry_id, first_blocker.get(key, entry_id))
    if not first_blocker:
        return claimed
    return [e for e in claimed if e.pk < first_blocker.get((e.source, e.sender), e.pk + 1)]


# The database itself failing (restarting, unreachable) is no entry's fault: no retry is spent.
DATABASE_TROUBLE = (OperationalError, InterfaceError)


def _one_by_one(batch: Sequence[InboundEntry], exc: BaseException) -> int:
    if len(batch) > 1:
        log.warning("inbound batch of %d failed (%r); processing its entries one by one", len(batch), exc)
    failed: set[tuple[str, str]] = set()
    processed = 0
    for stale in batch:
        key = (stale.source, stale.sender)
        if key in failed:
            continue  # a customer's later messages wait behind the one that failed
        try:
            with transaction.atomic():
                entry = (
                    InboundEntry.objects.select_for_update(no_key=True, skip_locked=True)
                    .filter(pk=stale.pk, state=InboundEntry.State.PENDING)
                    .first()
                )
                if entry is None:
                    continue
                with events_deferred() as along:
                    _store([entry], along)
                processed += 1
        except DATABASE_TROUBLE:
            raise
        except Exception as error:  # noqa: BLE001
            failed.add(key)
            with transaction.atomic():
                _record_failure(stale, error)
    return processed


def _store(batch: Sequence[InboundEntry], along: list[rawsql.Statement] | None = None) -> None:
    """Parse and receive a batch, and mark its entries done or flagged. On PostgreSQL the
    entries' UPDATE joins `along` (sent with the batch's events: events_deferred) when given."""
    now = timezone.now()

    parsers: dict[str, Gateway] = {}
    parsed: list[tuple[InboundEntry, list[registry.Delivery]]] = []
    flagged: list[tuple[InboundEntry, str]] = []
    for entry in batch:
        channel = registry.inbound_channel(entry.channel)
        parser = parsers.get(entry.channel) or parsers.setdefault(entry.channel, channel.parser())
        try:
            inbound = parser.parse_inbound(entry.payload, raw=bytes(entry.raw or b""))
        except MalformedPayload as exc:
            flagged.append((entry, str(exc)))
            continue
        parsed.append((entry, [registry.Delivery(entry=entry, inbound=item) for item in inbound]))
    # Each channel's receiver gets its consecutive run of deliveries, in journal order.
    for name, run in itertools.groupby(parsed, key=lambda item: item[0].channel):
        registry.inbound_channel(name).receiver([d for _, deliveries in run for d in deliveries])
    done: list[InboundEntry] = []
    for entry, deliveries in parsed:
        unroutable = next((d.unroutable for d in deliveries if d.unroutable), "")
        if unroutable:
            flagged.append((entry, unroutable))
            continue
        entry.state = InboundEntry.State.DONE
        entry.message = next((d.message for d in reversed(deliveries) if d.message is not None), None)
        entry.processed_at = now
        entry.attempts += 1
        done.append(entry)
    if done and rawsql.supported():
        # One UPDATE, its text written once (the ORM's Case/When was a tenth of a one-message
        # drain's CPU); only the message differs from entry to entry.
        statement = (_DONE_SQL, [InboundEntry.State.DONE, now, [e.pk for e in done], [e.message_id for e in done]])
        if along is not None:
            along.append(statement)
        else:
            rawsql.run([statement])
    elif done:
        # One UPDATE; only the message differs from entry to entry (bulk_update would build a
        # CASE for each of the four columns, a good share of a small batch's time).
        with_message = [(e.pk, e.message_id) for e in done if e.message_id is not None]
        message: Any = None
        if with_message:
            message = Case(
                *[When(pk=pk, then=Value(message_id)) for pk, message_id in with_message],
                default=Value(None),
                output_field=BigIntegerField(),
            )
        InboundEntry.objects.filter(pk__in=[e.pk for e in done]).update(
            state=InboundEntry.State.DONE, message=message, processed_at=now, attempts=F("attempts") + 1
        )
    for entry, reason in flagged:
        entry.state = InboundEntry.State.FLAGGED
        entry.flag_reason = reason[:500]
        entry.processed_at = now
        entry.save(update_fields=["state", "flag_reason", "processed_at"])
        log.warning("inbound entry %s flagged: %s", entry.pk, reason)


_DONE_SQL = """UPDATE "bus_inboundentry" AS e
   SET state = %s, processed_at = %s, attempts = e.attempts + 1, message_id = v.message_id
  FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, message_id)
 WHERE e.id = v.id"""


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, 60))


def _record_failure(entry: InboundEntry, exc: BaseException) -> None:
    attempts = (
        InboundEntry.objects.filter(pk=entry.pk).values_list("attempts", flat=True).first() or entry.attempts
    ) + 1
    give_up = attempts >= MAX_ATTEMPTS
    log.error(
        "processing inbound entry %s failed (try %s%s)",
        entry.pk,
        attempts,
        ", giving up" if give_up else "",
        exc_info=exc,
    )
    entry.attempts = attempts
    if give_up:
        entry.state = InboundEntry.State.FAILED
    InboundEntry.objects.filter(pk=entry.pk, state=InboundEntry.State.PENDING).update(
        attempts=attempts,
        last_error=repr(exc)[:5000],
        retry_at=timezone.now() + _backoff(attempts),
        state=InboundEntry.State.FAILED if give_up else InboundEntry.State.PENDING,
    )
