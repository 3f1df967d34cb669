"""A WebSocket test client over the real ASGI application, for the console and widget sockets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families


class Socket:
    """One socket connection. Reads frames without cancelling the app on a timeout
    (WebsocketCommunicator.receive_* cancel the consumer when they time out)."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def raw(self, timeout: float) -> dict[str, Any]:
        future = self.communicator.future
        if future.done():
            future.result()  # surface the consumer's exception
            raise AssertionError("the consumer has stopped")
        return await asyncio.wait_for(self.communicator.output_queue.get(), timeout)

    async def frame(self, timeout: float = 5.0, skip: tuple[str, ...] = ("heartbeat",)) -> dict[str, Any]:
        """The next frame whose type is not in `skip`."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.raw(max(deadline - time.monotonic(), 0.001))
            assert message["type"] == "websocket.send", message
            frame = json.loads(message["text"])
            if frame.get("type") not in skip:
                return frame

    async def frames_for(self, seconds: float, skip: tuple[str, ...] = ("heartbeat",)) -> list[dict[str, Any]]:
        """Every frame (but `skip`) that arrives within `seconds`."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await self.raw(left)
            except TimeoutError:
                break
            assert message["type"] == "websocket.send", message
            frame = json.loads(message["text"])
            if frame.get("type") not in skip:
                frames.append(frame)
        return frames

    async def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next `count` event frames (frames with an id), skipping heartbeats."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            frame = await self.frame(max(deadline - time.monotonic(), 0.001))
            assert "id" in frame, f"expected an event, got {frame}"
            out.append(frame)
        return out

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send(self, content: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(content))

    async def close(self) -> None:
        if not self.communicator.future.done():
            await self.communicator.disconnect()


@sync_to_async
def socket_samples(kind: str) -> tuple[float | None, float | None]:
    """(open, lowest confirmed position) of `kind`, as a scrape (on another thread) sees them."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            if sample.labels.get("kind") == kind and sample.name.startswith("supportdesk_sockets_"):
                values[sample.name] = sample.value
    return values.get("supportdesk_sockets_open"), values.get("supportdesk_sockets_lowest_confirmed_event_id")
