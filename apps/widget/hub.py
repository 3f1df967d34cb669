"""One hub per web process: the widget sockets' listener on the event stream.

A Channels consumer per socket (its own channel, its own receive loop) costs too much memory for
tens of thousands of idle visitors. Here the process's event stream (apps.bus.stream) hands the
hub every event of the log, in id order; the events that may concern a visitor become doorbells
(apps.widget.replay.widget_doorbells: the widget decides what a visitor may see), and the hub
hands the visitor frame to the local sockets of that conversation (a dict conversation id ->
sockets). A socket is a small object; its only task is the ASGI coroutine uvicorn runs for it
(apps.widget.consumers).

The hub also catches up from the event log on a timer (one query per process, not per socket):
for a socket that was just admitted, and for replies sent over another channel (which ring no
doorbell). Deliveries, live or caught up, take one lock, so a socket's frames leave in order.
The heartbeat frame carries the socket's position: a client that stores it resumes from there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from apps.bus.events import EventType
from apps.bus.stream import StreamEvent, stream
from apps.widget import services
from apps.widget.replay import visitor_frames, visitor_frames_by_id, widget_doorbells, widget_events_after
from apps.widget.services import inbox_online, visitor_for_token, visitor_message_ids_seen

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

SEND_TIMEOUT = 10.0  # a socket that cannot take a frame for this long is stalled: skip it
CATCH_UP_LIMIT = 2000
ONLINE_CACHE_SECONDS = 10.0
HEARTBEAT_BATCH = 500
NEWCOMER_CATCH_UP_SECONDS = 1.0


class VisitorSocket:
    """One visitor connection: who it is, which conversations it follows, what it was sent.

    `position` is a position in the event log: every event of the socket's conversations up to
    it has been sent (or came before the position the client resumed from). `sent` holds ids
    above it already sent live. Slots keep an idle socket at a few hundred bytes.
    """

    __slots__ = (
        "send",
        "inbox_id",
        "inbox_key",
        "token",
        "visitor_id",
        "public_id",
        "identity_id",
        "conversations",
        "position",
        "sent",
        "replaying",
        "typing_at",
        "window_start",
        "window_count",
        "stalled",
    )

    def __init__(
        self,
        *,
        send: Send,
        inbox_id: int,
        inbox_key: str,
        token: str,
        visitor_id: int,
        public_id: str,
        identity_id: int,
        conversations: Iterable[int],
    ) -> None:
        self.send = send
        self.inbox_id = inbox_id
        self.inbox_key = inbox_key
        self.token = token
        self.visitor_id = visitor_id
        self.public_id = public_id
        self.identity_id = identity_id
        self.conversations: set[int] = set(conversations)
        self.position = 0
        self.sent: set[int] | None = None
        self.replaying = False
        self.typing_at = 0.0
        self.window_start = 0.0
        self.window_count = 0
        self.stalled = False

    def take(self, frame: dict[str, Any], *, force: bool = False) -> bool:
        """Whether this event frame is new to the socket (and mark it sent)."""
        event_id = frame["id"]
        if (event_id <= self.position and not force) or (self.sent is not None and event_id in self.sent):
            return False
        if self.sent is None:
            self.sent = set()
        self.sent.add(event_id)
        return True

    def advance(self, upto: int) -> None:
        """Everything up to `upto` (a position read from the database) has been sent."""
        if upto > self.position:
            self.position = upto
        if self.sent:
            self.sent = {i for i in self.sent if i > self.position} or None

    async def send_json(self, frame: dict[str, Any]) -> bool:
        """Send a frame; False when the socket is gone or stalled (never raises)."""
        if self.stalled:
            return False
        try:
            await asyncio.wait_for(self.send({"type": "websocket.send", "text": json.dumps(frame)}), SEND_TIMEOUT)
            return True
        except TimeoutError:
            self.stalled = True  # a client that reads nothing; uvicorn's ping timeout ends it
            return False
        except Exception:  # noqa: BLE001 - closed under us: its coroutine cleans up
            return False


class WidgetHub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def _reset(self) -> None:
        self.sockets: set[VisitorSocket] = set()
        self.by_conversation: dict[int, set[VisitorSocket]] = {}
        self.by_identity: dict[int, set[VisitorSocket]] = {}
        self.pending: list[dict[str, Any]] = []
        self.wakeup: asyncio.Event | None = None
        self.checked_upto: int | None = None
        # The lowest starting position of a socket added since the last catch-up began.
        self.floor: int | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.online: dict[int, tuple[float, bool]] = {}
        self.online_asking: dict[int, asyncio.Future[bool]] = {}
        self.background: set[asyncio.Future[Any]] = set()
        self.stopping = False
        self.route_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    def ensure_running(self) -> None:
        """Start the hub's three tasks on the running loop (once per process and loop)."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            for index, task in enumerate(self.tasks):
                if task.done() and not task.cancelled() and not self.stopping:
                    # A bug, not a state: say so and run it again; the sockets stay registered.
                    log.error("widget hub: task %s ended (%r); restarting it", task.get_name(), task.exception())
                    self.tasks[index] = loop.create_task(self._runners()[index](), name=task.get_name())
            return
        # A new event loop (a test's own): nothing of the old one can be used.
        for task in self.tasks:
            task.cancel()
        self._reset()
        self.loop = loop
        self.wakeup = asyncio.Event()
        names = ("widget-hub-dispatch", "widget-hub-tick")
        self.tasks = [loop.create_task(run(), name=name) for run, name in zip(self._runners(), names, strict=True)]
        stream.attach(self)

    def _runners(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [self._dispatch, self._tick]

    async def stop(self) -> None:
        """Stop the hub (tests; a process that exits does not need it)."""
        self.stopping = True
        stream.detach(self)
        if self.background:  # replies being marked delivered: let them finish
            await asyncio.wait(list(self.background), timeout=5)
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=5)
            for task in pending:
                log.warning("widget hub: task %s did not stop", task.get_name())
        self.loop = None
        self._reset()

    # --- sockets ---------------------------------------------------------------------------
    def socket_stats(self) -> tuple[int, int | None]:
        """(open visitor sockets, the lowest position confirmed to one) in this process, for
        /metrics, whose thread reads this while the loop changes it: copy, retry on a clash."""
        for _ in range(5):
            try:
                positions = [s.position for s in list(self.sockets)]
            except RuntimeError:  # the set changed while it was copied
                continue
            return len(positions), min(positions, default=None)
        return 0, None

    def add(self, sock: VisitorSocket) -> None:
        """Register a socket whose `position` was read from the log before this call: the next
        catch-up starts at or below it, so what committed in between is not missed."""
        self.floor = sock.position if self.floor is None else min(self.floor, sock.position)
        self.sockets.add(sock)
        self.by_identity.setdefault(sock.identity_id, set()).add(sock)
        for conversation_id in sock.conversations:
            self.by_conversation.setdefault(conversation_id, set()).add(sock)

    def remove(self, sock: VisitorSocket) -> None:
        self.sockets.discard(sock)
        self._unlink(self.by_identity, sock.identity_id, sock)
        for conversation_id in sock.conversations:
            self._unlink(self.by_conversation, conversation_id, sock)

    def follow(self, sock: VisitorSocket, conversation_ids: Iterable[int]) -> None:
        """The socket's visitor has (new) conversations: deliver their events from now on."""
        for conversation_id in conversation_ids:
            if conversation_id not in sock.conversations:
                sock.conversations.add(conversation_id)
                if sock in self.sockets:
                    self.by_conversation.setdefault(conversation_id, set()).add(sock)

    @staticmethod
    def _unlink(index: dict[int, set[VisitorSocket]], key: int, sock: VisitorSocket) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(sock)
            if not members:
                del index[key]

    def mark_seen(self, delivered: list[tuple[VisitorSocket, dict[str, Any]]]) -> None:
        """Agent replies pushed to a visitor's socket have reached them: sent -> delivered (so
        the offline email is not needed). In the background; the sockets do not wait for it."""
        wanted: dict[tuple[str, str], list[int]] = {}
        for sock, frame in delivered:
            data = frame.get("data") or {}
            if frame.get("type") in SEEN_TYPES and data.get("direction") == "out" and data.get("status") == "sent":
                wanted.setdefault((sock.inbox_key, sock.token), []).append(data["id"])
        for (inbox_key, token), message_ids in wanted.items():
            task = asyncio.ensure_future(database_sync_to_async(_messages_seen)(inbox_key, token, message_ids))
            self.background.add(task)
            task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("widget hub: marking replies delivered failed", exc_info=task.exception())

    async def inbox_online(self, inbox: Any) -> bool:
        """Whether an agent answers now; cached a few seconds, and asked once for a burst of
        connects (they wait for the same answer) rather than once per socket."""
        now = time.monotonic()
        cached = self.online.get(inbox.pk)
        if cached is not None and cached[0] > now:
            return cached[1]
        asking = self.online_asking.get(inbox.pk)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_online(inbox))
            self.online_asking[inbox.pk] = asking
        return await asyncio.shield(asking)

    async def _ask_online(self, inbox: Any) -> bool:

        try:
            online = bool(await database_sync_to_async(inbox_online)(inbox))
        except Exception:  # noqa: BLE001 - the hello must not fail over presence
            log.exception("inbox_online failed for inbox %s", inbox.pk)
            online = False
        finally:
            self.online_asking.pop(inbox.pk, None)
        self.online[inbox.pk] = (time.monotonic() + ONLINE_CACHE_SECONDS, online)
        return online

    # --- the event stream ------------------------------------------------------------------
    def on_events(self, events: list[StreamEvent], upto: int) -> None:
        """The stream's delivery (apps.bus.stream): doorbells for what a visitor may see."""
        if self.stopping or self.wakeup is None:
            return
        bells = [frame for _group, frame in widget_doorbells(events)]
        if bells:
            self.pending.extend(bells)
            self.wakeup.set()

    def on_ephemeral(self, group: str, frame: dict[str, Any]) -> None:
        """Ephemeral frames are for agents (a visitor's typing); visitors get agents' typing
        as events."""

    async def _dispatch(self) -> None:
        """Doorbells in, visitor frames out: one database read per batch of doorbells."""
        assert self.wakeup is not None
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.pending = self.pending, []
            try:
                await self._route(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - late, not lost: the catch-up delivers it
                log.exception("widget hub: dispatching %d doorbell(s) failed", len(batch))

    async def _route(self, doorbells: list[dict[str, Any]], *, frames_of: Any = None) -> None:
        async with self.route_lock:
            await self._route_locked(doorbells, frames_of=frames_of)

    async def _route_locked(self, doorbells: list[dict[str, Any]], *, frames_of: Any = None) -> None:
        """Deliver these events (doorbells, or event rows of the catch-up) to the local sockets
        of their conversations. A visitor's own new message makes their other sockets follow
        the conversation it opened."""

        wanted: list[int] = []
        forced: dict[int, set[VisitorSocket]] = {}
        for bell in doorbells:
            conversation_id = bell.get("conversation")
            identity_id = bell.get("identity")
            if not isinstance(conversation_id, int):
                continue
            followers = self.by_identity.get(identity_id) if isinstance(identity_id, int) else None
            if followers:
                newcomers = {s for s in followers if conversation_id not in s.conversations}
                for sock in newcomers:
                    self.follow(sock, [conversation_id])
                if newcomers:
                    forced[bell["id"]] = newcomers
            if conversation_id in self.by_conversation:
                wanted.append(bell["id"])
        if not wanted:
            return
        if frames_of is None:
            frames = await database_sync_to_async(visitor_frames_by_id)(wanted)
        else:
            keep = set(wanted)
            frames = await database_sync_to_async(visitor_frames)([e for e in frames_of if e.id in keep])
        delivered: list[tuple[VisitorSocket, dict[str, Any]]] = []
        for frame in frames:
            targets = self.by_conversation.get(frame["conversation"], ())
            force = forced.get(frame["id"], set())
            chosen = [s for s in list(targets) if s.take(frame, force=s in force)]
            results = await asyncio.gather(*(s.send_json(frame) for s in chosen))
            delivered += [(s, frame) for s, ok in zip(chosen, results, strict=True) if ok]
        self.mark_seen(delivered)

    # --- catch-up and heartbeats -----------------------------------------------------------
    async def _tick(self) -> None:
        """Heartbeats and the catch-up every interval; and within a second of a new socket,
        the catch-up alone (for what committed while it was being admitted)."""
        interval = settings.WIDGET_HEARTBEAT_SECONDS
        next_beat = time.monotonic() + interval
        while True:
            await asyncio.sleep(min(interval, NEWCOMER_CATCH_UP_SECONDS))
            beat = time.monotonic() >= next_beat
            if not beat and self.floor is None:
                continue
            try:
                await self.catch_up()
                if beat:
                    next_beat = time.monotonic() + interval
                    await self._heartbeats()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("widget hub: heartbeat failed")

    async def catch_up(self) -> None:
        """Deliver what no doorbell rang for, then move the sockets' positions forward."""

        if not self.sockets:
            self.checked_upto = None
            return
        # Sockets registered now read their own position after registering: every event above
        # it is either pushed live or read by this pass.
        members = [s for s in self.sockets if not s.replaying]
        floor, self.floor = self.floor, None
        if self.checked_upto is None:
            self.checked_upto = min(s.position for s in self.sockets)
        if floor is not None:
            self.checked_upto = min(self.checked_upto, floor)
        while True:
            rows, upto, more = await database_sync_to_async(widget_events_after)(
                since=self.checked_upto, limit=CATCH_UP_LIMIT
            )
            rows = [e for e in rows if e.type != EventType.TYPING]  # stale by now
            bells = [
                {
                    "id": e.id,
                    "conversation": e.conversation_id,
                    "identity": e.data.get("identity") if e.data.get("direction") == "in" else None,
                }
                for e in rows
            ]
            await self._route(bells, frames_of=rows)
            self.checked_upto = upto
            if not more:
                break
        for sock in members:
            if not sock.replaying:
                sock.advance(upto)
        if self.floor is not None:  # sockets added during this pass: read again from their start
            self.checked_upto = min(upto, self.floor)
            self.floor = None

    async def _heartbeats(self) -> None:
        sockets = list(self.sockets)
        if sockets:
            try:
                await database_sync_to_async(_sockets_present)({s.visitor_id for s in sockets})
            except Exception:  # noqa: BLE001 - a hint for the offline email; the sweep's delay covers it
                log.warning("widget hub: visitor presence refresh failed", exc_info=True)
        for start in range(0, len(sockets), HEARTBEAT_BATCH):
            batch = sockets[start : start + HEARTBEAT_BATCH]
            await asyncio.gather(*(s.send_json({"type": "heartbeat", "last_event": s.position}) for s in batch))


SEEN_TYPES = (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED)


def _messages_seen(inbox_key: str, token: str, message_ids: list[int]) -> None:

    visitor = visitor_for_token(inbox_key=inbox_key, token=token)
    if visitor is not None:
        visitor_message_ids_seen(visitor=visitor, message_ids=message_ids)


def _sockets_present(visitor_ids: set[int]) -> None:
    """visitor_socket_touch for every connected visitor in one cache round trip."""

    cache.set_many({services._presence_key(i): 1 for i in visitor_ids}, services.SOCKET_PRESENCE_TTL)


hub = WidgetHub()
