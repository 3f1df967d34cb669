"""Widget-socket helpers: connect through the real ASGI application and read frames."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from channels.testing import WebsocketCommunicator

from supportdesk.asgi import application
from tests.widget.conftest import SITE

SKIP = ("heartbeat",)


def site_headers(origin: str | None = SITE, ip: str = "203.0.113.5") -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


class VisitorSocket:
    """A visitor's connection. Reads frames without cancelling the app on a timeout."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def raw(self, timeout: float) -> dict[str, Any]:
        future = self.communicator.future
        if future.done():
            future.result()
            raise AssertionError("the socket's application has stopped")
        return await asyncio.wait_for(self.communicator.output_queue.get(), timeout)

    async def frame(self, timeout: float = 5.0, skip: tuple[str, ...] = SKIP) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.raw(max(deadline - time.monotonic(), 0.001))
            assert message["type"] == "websocket.send", message
            frame = json.loads(message["text"])
            if frame.get("type") not in skip:
                return frame

    async def frames_for(self, seconds: float, skip: tuple[str, ...] = SKIP) -> list[dict[str, Any]]:
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

    async def send(self, content: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(content))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def close(self) -> None:
        if not self.communicator.future.done():
            await self.communicator.disconnect()


def widget_path(inbox_key: str, token: str, since: int | None = None) -> str:
    path = f"/ws/widget/?inbox={inbox_key}&token={token}"
    return path + (f"&since={since}" if since is not None else "")


async def connect(path: str, headers: list[tuple[bytes, bytes]] | None = None):
    """(accepted, close code, socket)."""
    communicator = WebsocketCommunicator(application, path, headers=headers if headers is not None else site_headers())
    accepted, code = await communicator.connect(timeout=5)
    return accepted, code, VisitorSocket(communicator)
