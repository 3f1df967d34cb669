"""Console-socket helpers: connect through the real ASGI application and read frames."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token

from supportdesk.asgi import application

SAME_ORIGIN = [(b"host", b"testserver"), (b"origin", b"http://testserver")]


class Socket:
    """A console connection. Reads frames without cancelling the app on a timeout
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


@pytest.fixture
async def open_socket():
    """open_socket(query="token=…", headers=…) -> (connected, close_code, Socket)."""
    sockets: list[Socket] = []

    async def open_(query: str = "", headers: list[tuple[bytes, bytes]] | None = None):
        path = "/ws/console/" + (f"?{query}" if query else "")
        communicator = WebsocketCommunicator(application, path, headers=headers if headers is not None else SAME_ORIGIN)
        connected, code = await communicator.connect(timeout=5)
        socket = Socket(communicator)
        sockets.append(socket)  # refused ones too: their consumer still waits on the layer
        return connected, code, socket

    yield open_
    for socket in sockets:
        await socket.close()


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    """sync_to_async runs DB work on one executor thread; close its connection after each
    test so the test database can be dropped at the end of the run."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def token_for(db):
    @sync_to_async
    def make(agent) -> str:
        token, _ = Token.objects.get_or_create(user=agent)
        return token.key

    return make


@pytest.fixture
def session_cookie_for(db):
    @sync_to_async
    def make(agent) -> bytes:
        client = Client()
        client.force_login(agent)
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()

    return make


@pytest.fixture
def sms(post_twilio):
    """Deliver a signed Twilio SMS webhook from async code; returns the HTTP response."""

    async def send(**params: str):
        from tests.conftest import twilio_params

        response = await sync_to_async(post_twilio)(**twilio_params(**params))
        assert response.status_code == 200, response.content
        return response

    return send
