"""Two web processes, one Redis: a console on process A gets a message that arrived on process B.

DESIGN.md §6: any web process can serve any socket. This starts two real servers
(`manage.py serve`, uvicorn) on the test database and the test run's channel-layer prefix.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import websockets
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token
from twilio.request_validator import RequestValidator

from tests.conftest import twilio_params

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (settings.HAS_POSTGRES and settings.HAS_REDIS),
        reason="two processes share PostgreSQL and Redis; one is not reachable (see the banner)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    auth = f"{user}:{db['PASSWORD']}" if db["PASSWORD"] else user
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_server(port: int, public_url: str, log_dir: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
            "DATABASE_URL": database_url(),
            "DATABASE_POOL": "0",
            "REDIS_URL": settings.REDIS_URL,
            "CHANNEL_LAYER_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            "TASKS_EAGER": "1",
            "PUBLIC_BASE_URL": public_url,
            "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
            "SECRET_KEY": "two-process-test-" + uuid.uuid4().hex,
            "DEBUG": "1",
            # Far longer than the test waits: the message must come through the channel layer,
            # not through the socket's heartbeat catch-up from the database.
            "CONSOLE_HEARTBEAT_SECONDS": "120",
        }
    )
    log = open(log_dir / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(process: subprocess.Popen, port: int, log_dir: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on :{port} exited: {(log_dir / f'server-{port}.log').read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server on :{port} did not answer /healthz within {timeout} s")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_console_on_process_a_receives_a_message_posted_to_process_b(agent, sms_inbox, tmp_path):
    token = Token.objects.create(user=agent).key
    port_a, port_b = free_port(), free_port()
    url_b = f"http://127.0.0.1:{port_b}"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(start_server(port_a, f"http://127.0.0.1:{port_a}", tmp_path))
        processes.append(start_server(port_b, url_b, tmp_path))
        wait_healthy(processes[0], port_a, tmp_path)
        wait_healthy(processes[1], port_b, tmp_path)

        body = f"Hello from process B {uuid.uuid4().hex[:8]}"
        params = twilio_params(Body=body)
        path = "/webhooks/twilio/messages"
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url_b + path, params)

        async def scenario() -> dict:
            async with websockets.connect(f"ws://127.0.0.1:{port_a}/ws/console/?token={token}") as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "hello"
                assert hello["agent"] == agent.pk
                response = await asyncio.to_thread(
                    requests.post, url_b + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
                )
                assert response.status_code == 200, response.text
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
        stop(processes)
