"""Console-socket helpers: connect through the real ASGI application and read frames."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token

from supportdesk.asgi import application
from tests.sockets import Socket

SAME_ORIGIN = [(b"host", b"testserver"), (b"origin", b"http://testserver")]


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
