"""The XMPP connections this process holds (run_xmpp's), for the gateway's sends.

The outbox hands a reply to `XmppGateway.send` on one of run_xmpp's sender threads; the send
itself must happen on the connection, on run_xmpp's event loop. This is where the two meet.
Elsewhere (a web process, the bus worker) nothing is connected and nothing is sent: those
processes never claim XMPP replies (`register_sender(..., claimed_by_own_process=True)`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from apps.gateways.xmpp.client import DeskClient

T = TypeVar("T")


class Live:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[int, DeskClient] = {}  # inbox id -> its connected client

    def set_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._lock:
            self.loop = loop
            if loop is None:
                self._clients.clear()

    def up(self, inbox_id: int, client: DeskClient) -> None:
        with self._lock:
            self._clients[inbox_id] = client

    def down(self, inbox_id: int, client: DeskClient) -> None:
        with self._lock:
            if self._clients.get(inbox_id) is client:
                del self._clients[inbox_id]

    def client(self, inbox_id: int) -> DeskClient | None:
        with self._lock:
            return self._clients.get(inbox_id)

    def inbox_ids(self) -> list[int]:
        with self._lock:
            return list(self._clients)

    def run(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run `coro` on the connections' loop (from another thread)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("no XMPP connections in this process")
        return asyncio.run_coroutine_threadsafe(coro, loop)


live = Live()
