"""Real server processes for the tests that cross a process boundary.

The two-process test, the production layout and the browser tests run `manage.py serve` (and a
Celery worker) against the pytest test database and Redis, exactly as an operator would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db import connection
from twilio.request_validator import RequestValidator

from tests.requires import missing

ROOT = Path(__file__).resolve().parent.parent


def self_signed_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) files for `name`, valid a day, made by the openssl command (the test is
    skipped, or fails under REQUIRE_SERVICES, when it is not installed)."""
    if shutil.which("openssl") is None:
        missing("the openssl command is not installed (it makes the test certificates)")
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The pytest test database, for processes started outside pytest."""
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    auth = f"{user}:{db['PASSWORD']}" if db["PASSWORD"] else user
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(public_url: str, *, twilio: Any | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a server (or worker) process sharing this test run's database and layer."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
            "DATABASE_URL": database_url(),
            "DATABASE_POOL": "0",
            "REDIS_URL": settings.REDIS_URL,
            "CHANNEL_LAYER_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi"),
            "TASKS_EAGER": "1",
            "PUBLIC_BASE_URL": public_url,
            "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
            "SECRET_KEY": "test-server-" + uuid.uuid4().hex,
            "DEBUG": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    if twilio is not None:
        env["TWILIO_ACCOUNT_SID"] = twilio.account_sid
        env["TWILIO_API_BASE_URL"] = twilio.base_url
        env["TWILIO_CONTENT_BASE_URL"] = twilio.base_url
    else:
        env.pop("TWILIO_ACCOUNT_SID", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser fixture for pytest only
    env.update(overrides)
    return env


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def sign(self, path: str, params: dict[str, str]) -> str:
        return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(self.url + path, params)

    def post_twilio(self, path: str, params: dict[str, str], *, expect: int | None = 200) -> requests.Response:
        """POST a correctly signed Twilio webhook (inbound message or status callback)."""
        response = requests.post(
            self.url + path, data=params, headers={"X-Twilio-Signature": self.sign(path, params)}, timeout=15
        )
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response


def start_server(log_dir: Path, *, twilio: Any | None = None, heartbeat: float = 5.0, **overrides: str) -> LiveServer:
    """Start `manage.py serve` on a free port and wait until /healthz answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(url, twilio=twilio, CONSOLE_HEARTBEAT_SECONDS=str(heartbeat), **overrides)
    log_path = log_dir / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(url=url, process=process, log_path=log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {server.log()}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise AssertionError(f"the server did not answer /healthz within 30 s: {server.log()}")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_server(server: LiveServer) -> None:
    stop_process(server.process)


def wait_for(condition: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `condition()` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
