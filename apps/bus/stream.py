"""The event stream: one per web process, the event log delivered in id order to the socket hubs
of that process (the console's, the widget's).

A thread waits on the event doorbell (apps.bus.doorbell; PostgreSQL LISTEN, or this process's
rings on SQLite), reads the log after its position — one query for every socket of the process
— and hands each batch, in order, to the listeners on the server's event loop. It also reads
on a timer, so events whose ring was missed (the listener reconnecting after a PostgreSQL
restart) arrive within `STREAM_POLL_SECONDS` anyway.

Event ids become readable in id order (the event-order lock, apps.bus.events), so reading
`id > position` never skips one: every listener sees every event once, in order, with no gap,
whatever order the transactions that wrote them committed in, and whichever process did.
Ephemeral frames (typing) ride the other doorbell and are handed over as they come.

Listeners are objects with `on_events(events, upto)` and `on_ephemeral(group, frame)`, called
on the loop; they must not block. `events` are `StreamEvent`s; `upto` is the stream's new
position (every event up to it has been handed over). The thread runs while a listener is
attached, and closes its connections when the last one leaves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Max

from apps.bus import doorbell
from apps.bus.models import Event, event_frame

log = logging.getLogger(__name__)

READ_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    inbox_id: int | None
    agent_id: int | None
    conversation_id: int | None
    type: str
    data: dict[str, Any]

    def as_frame(self) -> dict[str, Any]:
        return event_frame(self.id, self.type, self.conversation_id, self.data)


class StreamListener(Protocol):
    def on_events(self, events: list[StreamEvent], upto: int) -> None: ...

    def on_ephemeral(self, group: str, frame: dict[str, Any]) -> None: ...


def log_position() -> int:
    """The newest event id in the whole log (0 when empty)."""
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def events_after(position: int, limit: int = READ_LIMIT) -> tuple[list[StreamEvent], int, bool]:
    """The events after `position`, in order: (events, new position, whether more follow)."""
    rows = list(
        Event.objects.filter(id__gt=position)
        .order_by("id")
        .values_list("id", "inbox_id", "agent_id", "conversation_id", "type", "data")[:limit]
    )
    events = [StreamEvent(*row) for row in rows]
    return events, (events[-1].id if events else position), len(events) == limit


class EventStream:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listeners: list[StreamListener] = []
        self.position: int | None = None  # up to here, every event was handed to the listeners
        self._thread: threading.Thread | None = None
        self._generation = 0

    # --- on the loop -----------------------------------------------------------------------
    def attach(self, listener: StreamListener) -> None:
        """Hand the log to `listener` from now on (on the running loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            fresh = self.loop is not loop
            if fresh:
                # A new event loop (a test's own): listeners of the old one are gone with it, and
                # so is its thread (its generation is over; it ends at its next wake).
                self.listeners = []
                self.loop = loop
                self.position = None
            if listener not in self.listeners:
                self.listeners.append(listener)
            if fresh or self._thread is None or not self._thread.is_alive():
                self._generation += 1
                # The old thread's position is stale: events committed since it stopped were
                # handed to nobody. Until the new thread has read its own position, no socket
                # may go live on the old one (it would be moved past those events unseen).
                self.position = None
                self._thread = threading.Thread(
                    target=self._run, args=(self._generation, loop), daemon=True, name="event-stream"
                )
                self._thread.start()

    def detach(self, listener: StreamListener) -> None:
        with self._lock:
            if listener in self.listeners:
                self.listeners.remove(listener)

    def _deliver(self, generation: int, events: list[StreamEvent], upto: int) -> None:
        if generation != self._generation:
            return
        self.position = upto
        for listener in list(self.listeners):
            try:
                listener.on_events(events, upto)
            except Exception:  # noqa: BLE001 - one hub's bug never stops the other's delivery
                log.exception("event stream listener %r failed", listener)

    def _ephemeral(self, generation: int, group: str, frame: dict[str, Any]) -> None:
        if generation != self._generation:
            return
        for listener in list(self.listeners):
            try:
                listener.on_ephemeral(group, frame)
            except Exception:  # noqa: BLE001
                log.exception("event stream listener %r failed on an ephemeral frame", listener)

    # --- the thread ------------------------------------------------------------------------
    def _run(self, generation: int, loop: asyncio.AbstractEventLoop) -> None:
        listener = doorbell.Listener([doorbell.EVENTS, doorbell.EPHEMERAL]).listen()
        position: int | None = None
        poll = settings.STREAM_POLL_SECONDS
        try:
            while True:
                with self._lock:
                    if generation != self._generation:
                        return
                    if not self.listeners or loop.is_closed():
                        self._thread = None
                        return
                try:
                    if position is None:
                        position = log_position()
                        loop.call_soon_threadsafe(self._deliver, generation, [], position)
                    rings = listener.wait(poll)
                    for channel, payload in rings:
                        if channel == doorbell.EPHEMERAL:
                            self._hand_ephemeral(generation, loop, payload)
                    while True:
                        events, upto, more = events_after(position)
                        if events:
                            loop.call_soon_threadsafe(self._deliver, generation, events, upto)
                        position = upto
                        if not more:
                            break
                except RuntimeError:  # the loop closed under us (a test's loop, a shutdown)
                    return
                except Exception:  # noqa: BLE001 - PostgreSQL away: retry; the log keeps everything
                    log.warning("event stream: reading the log failed; retrying", exc_info=True)
                    close_old_connections()
                    connection.close()
                    threading.Event().wait(0.5)
        finally:
            listener.stop()
            connection.close()

    def _hand_ephemeral(self, generation: int, loop: asyncio.AbstractEventLoop, payload: str) -> None:
        try:
            message = json.loads(payload)
            group, frame = message["group"], message["frame"]
        except (ValueError, KeyError, TypeError):
            log.warning("event stream: an ephemeral frame that is not one: %.200r", payload)
            return
        loop.call_soon_threadsafe(self._ephemeral, generation, group, frame)


stream = EventStream()
