"""The event log and its fan-out.

Every change an agent or a visitor should see is written here as an `Event` row in the same
transaction as the change, then pushed to Channels groups after commit. The channel layer is
only the doorbell: clients catch up from the log (`since`), so a lost push costs latency, never
an event.

Ordering: on PostgreSQL two transactions can draw ids 7 and 8 and commit 8 first; a client that
has seen 8 would then resume past 7 forever. `event_append` therefore takes a transaction-scoped
advisory lock before drawing ids, so event ids become visible in id order: when id N is
readable, every id below N is too. Services append events last, just before commit, to keep that
section short. SQLite serialises writers anyway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from apps.bus import registry
from apps.bus.models import Event

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


def events_append(specs: Iterable[dict[str, Any]]) -> list[Event]:
    if not connection.in_atomic_block:
        raise RuntimeError("events must be appended inside the transaction of their change")
    rows = [Event(**spec) for spec in specs]
    if not rows:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOCK_KEY])
    if connection.features.can_return_rows_from_bulk_insert:
        Event.objects.bulk_create(rows)
    else:
        for row in rows:
            row.save(force_insert=True)
    frames = [(group_for_event(e), e.as_frame()) for e in rows]
    for audience in registry.audiences():  # other listeners (the widget hubs) ring their own
        frames += audience(rows)
    transaction.on_commit(lambda: publish(frames))
    return rows


def publish(frames: list[tuple[str, dict[str, Any]]]) -> None:
    """Ring the doorbell. A failure here is logged, not raised: the log already has the event."""
    layer = get_channel_layer()
    if layer is None or not frames:
        return
    if not isinstance(layer, InMemoryChannelLayer):
        _doorbell.ring(layer, frames)
        return
    # The in-memory layer (embedded mode) lives on the server's own event loop.
    try:
        async_to_sync(_publish)(layer, frames)
    except Exception:  # noqa: BLE001 - the push is late, not lost: clients catch up from the log
        log.exception("publishing %d event(s) to the channel layer failed", len(frames))


async def _publish(layer: Any, frames: list[tuple[str, dict[str, Any]]]) -> None:
    for group, frame in frames:
        await layer.group_send(group, {"type": "event.push", "event": frame})


class _Doorbell:
    """One long-lived event loop per process that sends frames to the channel layer, in order.

    `async_to_sync` from a Celery worker thread builds a new event loop and a new Redis
    connection on every call (2-3 ms of CPU each, measured by bench/); here frames are queued
    to one coroutine on a persistent loop and the caller does not wait. Started lazily, and
    again after a fork (Celery's prefork children).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[Any, list[tuple[str, dict[str, Any]]]]] | None = None

    def ring(self, layer: Any, frames: list[tuple[str, dict[str, Any]]]) -> None:
        if self._pid != os.getpid():
            self._start()
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (layer, frames))

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(loop)
                self._queue = asyncio.Queue()
                ready.set()
                loop.run_until_complete(self._drain())

            threading.Thread(target=run, daemon=True, name="event-doorbell").start()
            ready.wait(5)
            self._loop = loop
            self._pid = os.getpid()

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            layer, frames = await self._queue.get()
            try:
                await _publish(layer, frames)
            except Exception:  # noqa: BLE001 - late, not lost: clients catch up from the log
                log.exception("publishing %d event(s) to the channel layer failed", len(frames))


_doorbell = _Doorbell()


def publish_ephemeral(group: str, frame: dict[str, Any]) -> None:
    """Push something that is not worth logging (typing indicators)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "ephemeral.push", "frame": frame})
    except Exception:  # noqa: BLE001
        log.warning("ephemeral push to %s failed", group, exc_info=True)


async def publish_ephemeral_async(group: str, frame: dict[str, Any]) -> None:
    """`publish_ephemeral` from async code (the widget socket's typing)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, {"type": "ephemeral.push", "frame": frame})
    except Exception:  # noqa: BLE001
        log.warning("ephemeral push to %s failed", group, exc_info=True)


def events_visible_q(*, agent_id: int, inbox_ids: Iterable[int]) -> Q:
    """Events an agent may see: their inboxes' events, global ones, and their own."""
    return Q(agent_id__isnull=True) & (Q(inbox_id__in=list(inbox_ids)) | Q(inbox_id__isnull=True)) | Q(
        agent_id=agent_id
    )


def events_visible_since(*, agent_id: int, inbox_ids: Iterable[int], since: int) -> QuerySet[Event]:
    return Event.objects.filter(events_visible_q(agent_id=agent_id, inbox_ids=inbox_ids), id__gt=since).order_by("id")
