"""Structured logs (LOG_FORMAT=json) and what the embedded mode logs (issue 10)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from apps.conversations.models import Conversation, Message
from apps.core.logs import ContextFilter, JsonFormatter, PlainFormatter
from tests.conftest import twilio_params
from tests.requires import needs_postgres
from tests.servers import free_port, start_server, stop_server, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, through the JSON formatter of LOG_FORMAT=json, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _records(stream: io.StringIO) -> list[dict]:
    lines = [line for line in stream.getvalue().splitlines() if line]
    return [json.loads(line) for line in lines]  # every line is one JSON object


@pytest.mark.django_db(transaction=True)
def test_a_log_line_carries_the_request_id_the_response_returns(client, sms_inbox, log_lines):
    response = client.post("/webhooks/twilio/messages", twilio_params(), HTTP_X_TWILIO_SIGNATURE="forged")
    assert response.status_code == 403
    [refusal] = [r for r in _records(log_lines) if r["logger"] == "apps.gateways.twilio.views"]
    assert refusal["level"] == "WARNING" and "bad or missing signature" in refusal["message"]
    assert refusal["request_id"] == response["X-Request-ID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", refusal["time"])


@pytest.mark.django_db(transaction=True)
def test_the_incoming_request_id_is_the_one_logged(client, sms_inbox, log_lines):
    client.post(
        "/webhooks/twilio/messages", twilio_params(), HTTP_X_TWILIO_SIGNATURE="forged", HTTP_X_REQUEST_ID="lb-req-77"
    )
    assert {r.get("request_id") for r in _records(log_lines) if r["logger"].startswith("apps.")} == {"lb-req-77"}


@pytest.mark.django_db(transaction=True)
def test_a_reply_logs_with_its_conversation_and_message_id(client, receive_sms, agent, log_lines):
    inbound = receive_sms(Body="My router is down")
    client.force_login(agent)
    response = client.post(
        f"/api/v1/conversations/{inbound.conversation_id}/messages",
        {"body": "On it", "client_id": "r-1"},
        content_type="application/json",
    )
    assert response.status_code == 201
    reply = Message.objects.get(client_id="r-1")
    # The send ran after the commit, inside the request: its lines carry all three ids.
    sends = [
        r
        for r in _records(log_lines)
        if r["logger"] == "apps.bus.services.outbox" and "send of message" in r["message"]
    ]
    assert sends, _records(log_lines)
    for record in sends:
        assert record["request_id"] == response["X-Request-ID"]
        assert record["conversation_id"] == inbound.conversation_id == reply.conversation_id
        assert record["message_id"] == reply.pk


def test_an_exception_is_one_line_with_its_traceback():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    try:
        raise ValueError("boom\non two lines")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed here" and "ValueError: boom" in parsed["exception"]
    assert "request_id" not in parsed  # no request: no id, not null


def test_plain_lines_name_the_request_when_there_is_one():
    from apps.core.logs import log_context

    formatter = PlainFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    with log_context(request_id="abc", conversation_id=7):
        ContextFilter().filter(record)
    assert formatter.format(record) == "INFO hello [request_id=abc conversation_id=7]"


def test_log_format_must_be_plain_or_json():
    import os
    import subprocess
    import sys

    env = {**os.environ, "LOG_FORMAT": "yaml", "DJANGO_SETTINGS_MODULE": "supportdesk.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "LOG_FORMAT must be plain or json" in result.stderr


# --- real server processes ------------------------------------------------------------------


@needs_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_server_with_log_format_json_writes_only_json_lines(tmp_path, sms_inbox):
    server = start_server(tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO")
    try:
        forged = requests.post(
            server.url + "/webhooks/twilio/messages",
            data=twilio_params(),
            headers={"X-Twilio-Signature": "forged", "X-Request-ID": "probe-1"},
            timeout=10,
        )
        assert forged.status_code == 403 and forged.headers["X-Request-ID"] == "probe-1"
        server.post_twilio("/webhooks/twilio/messages", twilio_params(Body="hello"))
        wait_for(lambda: "probe-1" in server.log(), what="the refusal's log line")
    finally:
        stop_server(server)
    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert any(r.get("request_id") == "probe-1" and r["logger"] == "apps.gateways.twilio.views" for r in records)
    assert any(r["message"].startswith("tasks run in-process") for r in records)  # serve's own lines too


def _readme_smtplib_one_liner(port: int) -> str:
    readme = (ROOT / "README.md").read_text()
    [line] = [line.strip() for line in readme.splitlines() if "smtplib" in line and "python" in line]
    code = re.search(r'-c "(.*)"$', line).group(1)
    return code.replace("2525", str(port))


@needs_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_embedded_mode_warns_of_nothing_in_the_readme_flow(tmp_path, settings):
    """make run's server (no Redis, in-process tasks, the SMTP listener) through README's flow:
    nothing an operator must act on, so no warning; and the mail one-liner leaves no error."""
    settings.INBOUND_EMAIL_DOMAIN = "support.localhost"
    call_command("seed_demo", stdout=io.StringIO())
    smtp_port = free_port()
    server = start_server(
        tmp_path,
        REDIS_URL="",
        INBOUND_EMAIL_DOMAIN="support.localhost",
        SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        LOG_LEVEL="INFO",
    )
    try:
        assert requests.get(server.url + "/favicon.ico", timeout=10).status_code == 200
        assert requests.get(server.url + "/console/", timeout=10).status_code == 200  # the login page
        server.post_twilio("/webhooks/twilio/messages", twilio_params(Body="My router is down"))
        import subprocess
        import sys

        subprocess.run([sys.executable, "-c", _readme_smtplib_one_liner(smtp_port)], check=True, timeout=30)
        wait_for(lambda: Conversation.objects.filter(messages__body="Where is my invoice?").exists(), what="the mail")
        wait_for(lambda: "SMTP: stored mail" in server.log() or Message.objects.count() >= 2, what="the store")
    finally:
        stop_server(server)
    log = server.log()
    assert " WARNING " not in log, log
    assert " ERROR " not in log and "Traceback" not in log, log
    assert "Connection lost" not in log and "EOF received" not in log, log


def test_smtplib_one_liner_of_the_readme_says_quit():
    code = _readme_smtplib_one_liner(2525)
    assert "with smtplib.SMTP(" in code or ".quit()" in code
