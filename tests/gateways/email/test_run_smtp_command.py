"""`manage.py run_smtp` as an operator runs it: a process on SMTP_LISTEN, stopped by SIGTERM."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
import time

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from tests.gateways.email.support import DOMAIN, INBOX_ADDRESS, make_mail
from tests.servers import ROOT, free_port, server_env, stop_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for_port(port: int, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run_smtp exited: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"run_smtp did not listen within 30 s: {log_path.read_text()}")


def test_run_smtp_stores_mail_and_stops_cleanly_on_sigterm(email_inbox, tmp_path):
    port = free_port()
    env = server_env("http://127.0.0.1", SMTP_LISTEN=f"127.0.0.1:{port}", INBOUND_EMAIL_DOMAIN=DOMAIN)
    log_path = tmp_path / "run_smtp.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_smtp"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, log_path)
        idle = smtplib.SMTP("127.0.0.1", port, timeout=30)  # an open session must not hold the stop
        idle.ehlo()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            assert client.sendmail("jane@customer.example", [INBOX_ADDRESS], make_mail(body="Via the command")) == {}
        entry = InboundEntry.objects.get()
        assert Message.objects.get(pk=entry.message_id).body == "Via the command"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        idle.close()
    finally:
        stop_process(process)
    output = log_path.read_text()
    assert f"SMTP listener on 127.0.0.1:{port}: mail for @{DOMAIN}" in output
    assert "SMTP listener stopped (1 mails accepted)" in output


def test_run_smtp_refuses_to_start_without_a_domain(tmp_path):
    env = server_env("http://127.0.0.1", INBOUND_EMAIL_DOMAIN="")
    result = subprocess.run(
        [sys.executable, "manage.py", "run_smtp"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Set INBOUND_EMAIL_DOMAIN" in result.stderr
