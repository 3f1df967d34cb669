"""The event log and its fan-out.

Every change an agent or a visitor should see is written here as an `Event` row in the same
transaction as the change, which rings the event doorbell (apps.bus.doorbell) on commit. Each
web process's event stream (apps.bus.stream) then reads the log after its position, in id
order, and hands the new events to its socket hubs (console, widget), which deliver them in
that order. The log is the truth; the doorbell only saves waiting for the stream's timer.

Ordering: on PostgreSQL two transactions can draw ids 7 and 8 and commit 8 first; a client that
has seen 8 would then resume past 7 forever. `event_append` therefore takes a transaction-scoped
advisory lock before drawing ids, so event ids become visible in id order: when id N is
readable, every id below N is too. Services append events last, just before commit, to keep that
section short. SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.bus import doorbell
from apps.bus.models import Event
from apps.core import rawsql

log = logging.getLogger(__name__)

EVENT_LOCK_KEY = 0x5D5E0001


class EventType:
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    TYPING = "typing"
    PRESENCE_UPDATED = "presence.updated"
    AGENT_UPDATED = "agent.updated"
    CONTACT_UPDATED = "contact.updated"
    # To one agent only (Event.agent_id): a mention in a note, a conversation assigned to them.
    NOTIFICATION_CREATED = "notification.created"
    # To one agent only: they read a conversation (their other tabs clear its unread badge).
    CONVERSATION_READ = "conversation.read"


# Channels group names, defined once.
def group_for_inbox(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def group_for_agent(agent_id: int) -> str:
    return f"agent.{agent_id}"


GROUP_ALL_AGENTS = "agents"


def group_for_event(event: Event) -> str:
    if event.agent_id is not None:
        return group_for_agent(event.agent_id)
    if event.inbox_id is not None:
        return group_for_inbox(event.inbox_id)
    return GROUP_ALL_AGENTS


def event_append(
    *,
    type: str,
    data: dict[str, Any],
    conversation_id: int | None = None,
    inbox_id: int | None = None,
    agent_id: int | None = None,
) -> Event:
    """Write one event in the current transaction and push it to its group after commit."""
    return events_append(
        [dict(type=type, data=data, conversation_id=conversation_id, inbox_id=inbox_id, agent_id=agent_id)]
    )[0]


_deferred = threading.local()


@contextmanager
def events_deferred() -> Iterator[list[rawsql.Statement]]:
    """Events appended inside this block are written together when it ends, with one INSERT and
    one turn of the event-order lock (the bus's batches: one per batch, not one per message).
    The block must run inside the transaction of the changes; nothing is written if it raises.

    It gives a list: statements added to it (PostgreSQL; apps.core.rawsql) are sent in the same
    round trip as the events' INSERT, before it (the bus's journal marks its batch done so)."""
    if not connection.in_atomic_block:
        raise RuntimeError("events must be appended inside the transaction of their change")
    stack: list[list[Event]] = _deferred.__dict__.setdefault("stack", [])
    buffer: list[Event] = []
    along: list[rawsql.Statement] = []
    stack.append(buffer)
    try:
        yield along
    finally:
        stack.pop()
    if along and connection.vendor != "postgresql":
        raise RuntimeError("statements sent along with events are for PostgreSQL")
    _write(buffer, along)


def events_append(specs: Iterable[dict[str, Any]]) -> list[Event]:
    """Write events in the current transaction; they ring the event doorbell on commit.

    Inside `events_deferred` they are written when that block ends (and have no id until then).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("events must be appended inside the transaction of their change")
    rows = [Event(**spec) for spec in specs]
    stack = _deferred.__dict__.get("stack")
    if stack:
        stack[-1].extend(rows)
        return rows
    _write(rows)
    return rows


def _write(rows: list[Event], along: Sequence[rawsql.Statement] = ()) -> None:
    if not rows:
        if along:
            rawsql.run(along)
        return
    if connection.vendor == "postgresql":
        _write_postgresql(rows, along)
        return
    doorbell.ring(doorbell.EVENTS)
    for row in rows:
        row.save(force_insert=True)


# The event-order lock, the doorbell every web process's event stream (apps.bus.stream) waits on
# (PostgreSQL delivers it when this transaction commits), and the rows: one statement. The ids
# are drawn (the id column's default) from the rows the join yields, and no row comes out of
# the join before the lock's one row: every id is drawn under the lock.
_INSERT_SQL = """INSERT INTO "bus_event" ("type", "conversation_id", "inbox_id", "agent_id", "data", "created_at")
SELECT r.type, r.conversation_id, r.inbox_id, r.agent_id, r.data::jsonb, %s
  FROM (SELECT pg_advisory_xact_lock(%s), pg_notify(%s, '')) AS turn,
       UNNEST(%s::varchar[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[])
           WITH ORDINALITY AS r(type, conversation_id, inbox_id, agent_id, data, n)
 ORDER BY r.n
RETURNING id
"""


def _write_postgresql(rows: list[Event], along: Sequence[rawsql.Statement] = ()) -> None:
    now = timezone.now()
    insert = (
        _INSERT_SQL,
        [
            now,
            EVENT_LOCK_KEY,
            doorbell.EVENTS,
            [r.type for r in rows],
            [r.conversation_id for r in rows],
            [r.inbox_id for r in rows],
            [r.agent_id for r in rows],
            [json.dumps(r.data) for r in rows],
        ],
    )
    ids = [row[0] for row in rawsql.run([*along, insert])[-1]]
    if len(ids) != len(rows):  # never: one row in, one id out
        raise RuntimeError(f"{len(rows)} events written, {len(ids)} ids returned")
    for row, event_id in zip(rows, ids, strict=True):
        row.id = event_id
        row.created_at = now
        row._state.adding = False


def publish_ephemeral(group: str, frame: dict[str, Any]) -> None:
    """Push something that is not worth logging (typing indicators) to a group's sockets in
    every process. Best effort: a frame that cannot go is dropped."""
    try:
        doorbell.ring(doorbell.EPHEMERAL, json.dumps({"group": group, "frame": frame}, separators=(",", ":")))
    except Exception:  # noqa: BLE001
        log.warning("ephemeral push to %s failed", group, exc_info=True)


async def publish_ephemeral_async(group: str, frame: dict[str, Any]) -> None:
    """`publish_ephemeral` from async code (the widget socket's typing)."""
    await sync_to_async(publish_ephemeral, thread_sensitive=False)(group, frame)


def events_visible_q(*, agent_id: int, inbox_ids: Iterable[int]) -> Q:
    """Events an agent may see: their inboxes' events, global ones, and their own."""
    return Q(agent_id__isnull=True) & (Q(inbox_id__in=list(inbox_ids)) | Q(inbox_id__isnull=True)) | Q(
        agent_id=agent_id
    )


def events_visible_since(*, agent_id: int, inbox_ids: Iterable[int], since: int) -> QuerySet[Event]:
    return Event.objects.filter(events_visible_q(agent_id=agent_id, inbox_ids=inbox_ids), id__gt=since).order_by("id")
