"""Widget sockets across web processes (DESIGN.md §6): a visitor on process A, agents on process B.

Real `manage.py serve` processes on the test database and the test run's Redis channel layer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import requests
import websockets
from rest_framework.authtoken.models import Token

from tests.requires import needs_postgres_and_redis
from tests.servers import LiveServer, start_server, stop_server
from tests.widget.conftest import SITE, WidgetClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    needs_postgres_and_redis,
    pytest.mark.django_db(transaction=True),
]


async def next_frame(ws: Any, wanted: str, timeout: float = 8.0, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01)))
        if frame.get("type") == wanted and all(frame.get(k) == v for k, v in match.items()):
            return frame


def agent_reply_over_http(server: LiveServer, token: str, conversation_id: int, body: str) -> None:
    response = requests.post(
        f"{server.url}/api/v1/conversations/{conversation_id}/messages",
        json={"body": body, "client_id": f"reply-{time.monotonic_ns()}"},
        headers={"Authorization": f"Token {token}"},
        timeout=15,
    )
    assert response.status_code in (200, 201), response.text


def ws_url(server: LiveServer, path: str) -> str:
    return "ws://" + server.url.split("://", 1)[1] + path


def test_a_reply_sent_through_process_b_reaches_the_visitor_on_process_a(widget_inbox, agent, tmp_path):
    client = WidgetClient(widget_inbox)
    assert client.session(name="Jo").status_code == 200
    agent_token = Token.objects.create(user=agent).key
    servers: list[LiveServer] = []
    try:
        # Heartbeats far longer than the test: everything must come through the channel layer.
        for _ in range(2):
            servers.append(start_server(tmp_path, heartbeat=120, WIDGET_HEARTBEAT_SECONDS="120"))
        server_a, server_b = servers

        async def scenario() -> tuple[dict, dict, dict]:
            visitor_path = f"/ws/widget/?inbox={widget_inbox.key}&token={client.token}"
            async with (
                websockets.connect(ws_url(server_a, visitor_path), origin=SITE) as visitor,  # type: ignore[arg-type]
                websockets.connect(ws_url(server_b, f"/ws/console/?token={agent_token}")) as console,
            ):
                assert json.loads(await visitor.recv())["type"] == "hello"
                assert json.loads(await console.recv())["type"] == "hello"
                await visitor.send(json.dumps({"action": "send", "client_id": "p-1", "text": "from process A"}))
                ack = await next_frame(visitor, "ack")
                conversation_id = ack["message"]["conversation"]
                on_console = await next_frame(console, "message.created")
                await visitor.send(json.dumps({"action": "typing", "active": True}))
                typing = await next_frame(console, "typing", conversation=conversation_id)
                await asyncio.to_thread(agent_reply_over_http, server_b, agent_token, conversation_id, "from B")
                reply = await next_frame(visitor, "message.created", conversation=conversation_id)
                while reply["data"]["direction"] != "out":
                    reply = await next_frame(visitor, "message.created", conversation=conversation_id)
                return on_console, typing, reply

        on_console, typing, reply = asyncio.run(scenario())
        assert on_console["data"]["body"] == "from process A"
        assert typing["data"]["on"] is True
        assert reply["data"]["text"] == "from B"
        assert reply["data"]["author"] == {"name": "Ana"}
    finally:
        for server in servers:
            stop_server(server)


def test_a_push_lost_between_processes_reaches_the_visitor_by_the_hubs_catch_up(widget_inbox, agent, tmp_path):
    """Process B publishes on another channel-layer prefix: none of its pushes reach A (as if
    Redis dropped them). A's hub reads them from the event log on its next heartbeat."""
    client = WidgetClient(widget_inbox)
    assert client.session().status_code == 200
    agent_token = Token.objects.create(user=agent).key
    servers: list[LiveServer] = []
    try:
        servers.append(start_server(tmp_path, heartbeat=120, WIDGET_HEARTBEAT_SECONDS="1"))
        servers.append(start_server(tmp_path, heartbeat=120, CHANNEL_LAYER_PREFIX="elsewhere"))
        server_a, server_b = servers

        async def scenario() -> tuple[dict, dict]:
            visitor_path = f"/ws/widget/?inbox={widget_inbox.key}&token={client.token}"
            async with websockets.connect(ws_url(server_a, visitor_path), origin=SITE) as visitor:  # type: ignore[arg-type]
                assert json.loads(await visitor.recv())["type"] == "hello"
                await visitor.send(json.dumps({"action": "send", "client_id": "q-1", "text": "anyone?"}))
                conversation_id = (await next_frame(visitor, "ack"))["message"]["conversation"]
                await asyncio.to_thread(agent_reply_over_http, server_b, agent_token, conversation_id, "caught up")
                reply = await next_frame(visitor, "message.created", conversation=conversation_id)
                while reply["data"]["direction"] != "out":
                    reply = await next_frame(visitor, "message.created", conversation=conversation_id)
                beat = await next_frame(visitor, "heartbeat")
                return reply, beat

        reply, beat = asyncio.run(scenario())
        assert reply["data"]["text"] == "caught up"
        assert beat["last_event"] >= reply["id"]
    finally:
        for server in servers:
            stop_server(server)
