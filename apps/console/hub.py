"""The console's hub: one per web process, the event stream's listener for agents' sockets.

The stream (apps.bus.stream) hands over every event of the log once, in id order. The hub sends
each to the live sockets allowed to see it — the agents of its inbox, the one agent it is for,
or every agent — and moves every live socket's position to the stream's. A socket is live once
it has caught up from the log to the stream's position (after a `since`, a `resume`, or its
start); until then the hub leaves it alone and it reads the log itself. So a socket gets every
visible event after its position, once, in id order: it never shows N+1 before N, and the
last id a client saw is always a safe place to resume from.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from apps.bus.events import GROUP_ALL_AGENTS
from apps.bus.stream import StreamEvent, stream

if TYPE_CHECKING:
    from apps.console.consumers import ConsoleConsumer

log = logging.getLogger(__name__)


class ConsoleHub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: set[ConsoleConsumer] = set()
        self.by_agent: dict[int, set[ConsoleConsumer]] = {}
        self.by_inbox: dict[int, set[ConsoleConsumer]] = {}

    @property
    def position(self) -> int | None:
        return stream.position if stream.loop is self.loop else None

    def add(self, sock: ConsoleConsumer) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (a test's own): the old sockets are gone
            self.sockets, self.by_agent, self.by_inbox = set(), {}, {}
            self.loop = loop
        self.sockets.add(sock)
        self.by_agent.setdefault(sock.agent_id, set()).add(sock)
        for inbox_id in sock.inbox_ids:
            self.by_inbox.setdefault(inbox_id, set()).add(sock)
        stream.attach(self)

    def remove(self, sock: ConsoleConsumer) -> None:
        self.sockets.discard(sock)
        self._unlink(self.by_agent, sock.agent_id, sock)
        for inbox_id in sock.inbox_ids:
            self._unlink(self.by_inbox, inbox_id, sock)
        if not self.sockets:
            stream.detach(self)

    def inboxes_changed(self, sock: ConsoleConsumer, before: list[int]) -> None:
        for inbox_id in before:
            self._unlink(self.by_inbox, inbox_id, sock)
        if sock in self.sockets:
            for inbox_id in sock.inbox_ids:
                self.by_inbox.setdefault(inbox_id, set()).add(sock)

    @staticmethod
    def _unlink(index: dict[int, set[Any]], key: int, sock: Any) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(sock)
            if not members:
                del index[key]

    def _audience(self, event: StreamEvent) -> set[ConsoleConsumer] | frozenset[ConsoleConsumer]:
        if event.agent_id is not None:
            return self.by_agent.get(event.agent_id, frozenset())
        if event.inbox_id is not None:
            return self.by_inbox.get(event.inbox_id, frozenset())
        return self.sockets

    # --- the stream's listener ---------------------------------------------------------------
    def on_events(self, events: list[StreamEvent], upto: int) -> None:
        for event in events:
            audience = self._audience(event)
            if not audience:
                continue
            frame = event.as_frame()
            for sock in audience:
                if sock.live:
                    sock.push_event(frame)
        for sock in self.sockets:
            if sock.live:
                sock.advance(upto)

    def on_ephemeral(self, group: str, frame: dict[str, Any]) -> None:
        kind, _, key = group.partition(".")
        if group == GROUP_ALL_AGENTS:
            audience: set[ConsoleConsumer] | frozenset[ConsoleConsumer] = self.sockets
        elif kind == "inbox" and key.isdigit():
            audience = self.by_inbox.get(int(key), frozenset())
        elif kind == "agent" and key.isdigit():
            audience = self.by_agent.get(int(key), frozenset())
        else:
            return
        for sock in audience:
            sock.push(frame)

    def stats(self) -> tuple[int, int | None]:
        """(open console sockets, the lowest position confirmed to one) in this process, for
        /metrics (read from another thread: copy, retry on a clash)."""
        for _ in range(5):
            try:
                positions = [s.upto for s in list(self.sockets)]
            except RuntimeError:
                continue
            return len(positions), min(positions, default=None)
        return 0, None


hub = ConsoleHub()
