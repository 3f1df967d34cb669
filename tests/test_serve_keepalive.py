"""`manage.py serve` keeps an idle HTTP/1.1 connection open for HTTP_KEEPALIVE_SECONDS: longer
than the load balancer in front keeps one (docker/nginx.conf, tests/test_deploy_config.py), so
that the balancer never sends a request down a connection the server is closing."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.servers import start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def _answer(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_an_idle_connection_stays_open_for_the_setting_and_no_longer(tmp_path):
    server = start_server(tmp_path, HTTP_KEEPALIVE_SECONDS="2")
    try:
        url = urlsplit(server.url)
        with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
            conn.sendall(REQUEST)
            assert _answer(conn).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)  # idle, but within the setting: the same connection answers again
            conn.sendall(REQUEST)
            assert _answer(conn).startswith(b"HTTP/1.1 200")
            time.sleep(3.0)  # idle past it, within uvicorn's own 5 s: already closed by the server
            conn.settimeout(0.5)
            assert conn.recv(4096) == b""
    finally:
        stop_server(server)
