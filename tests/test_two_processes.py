"""Two web processes, one Redis: a console on process A gets a message that arrived on process B.

DESIGN.md §6: any web process can serve any socket. This starts two real servers
(`manage.py serve`, uvicorn) on the test database and the test run's channel-layer prefix.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
import websockets
from rest_framework.authtoken.models import Token

from tests.conftest import twilio_params
from tests.requires import needs_postgres_and_redis
from tests.servers import LiveServer, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    needs_postgres_and_redis,
]


@pytest.mark.django_db(transaction=True)
def test_console_on_process_a_receives_a_message_posted_to_process_b(agent, sms_inbox, tmp_path):
    token = Token.objects.create(user=agent).key
    servers: list[LiveServer] = []
    try:
        # A heartbeat far longer than the test waits: the message must come through the channel
        # layer, not through the socket's catch-up from the database.
        servers.append(start_server(tmp_path, heartbeat=120))
        servers.append(start_server(tmp_path, heartbeat=120))
        server_a, server_b = servers
        port_a = server_a.url.rsplit(":", 1)[1]

        body = f"Hello from process B {uuid.uuid4().hex[:8]}"
        params = twilio_params(Body=body)

        async def scenario() -> dict:
            async with websockets.connect(f"ws://127.0.0.1:{port_a}/ws/console/?token={token}") as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "hello"
                assert hello["agent"] == agent.pk
                await asyncio.to_thread(server_b.post_twilio, "/webhooks/twilio/messages", params)
                deadline = time.monotonic() + 5
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01)))
                    if frame.get("type") == "message.created":
                        return frame

        frame = asyncio.run(scenario())
        assert frame["data"]["body"] == body
        assert frame["data"]["direction"] == "in"
        assert isinstance(frame["id"], int)
    finally:
        for server in servers:
            stop_server(server)
