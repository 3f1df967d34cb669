"""`simulate_sms` in a second terminal reaches the server `make run PORT=…` started (issue 10).

The second terminal has none of the first one's variables: the command finds the running server
through the note `serve` leaves (SERVER_RUN_FILE), posts to its port and signs for its
PUBLIC_BASE_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from apps.bus.models import InboundEntry
from tests.requires import needs_postgres
from tests.servers import ROOT, database_url, start_server, stop_server, wait_for


def _second_terminal(run_file: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py simulate_sms` with a fresh shell's environment: no PUBLIC_BASE_URL, no port."""
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        DATABASE_URL=database_url(),
        DATABASE_POOL="0",
        SERVER_RUN_FILE=run_file,
        TWILIO_AUTH_TOKEN=settings.TWILIO_AUTH_TOKEN,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "simulate_sms", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simulate_sms_posts_to_the_port_the_server_runs_on(tmp_path, sms_inbox):
    run_file = str(tmp_path / "server.json")
    port_probe = start_server(tmp_path, SERVER_RUN_FILE=run_file)  # what `make run PORT=…` starts
    try:
        note = json.loads((tmp_path / "server.json").read_text())
        assert note["url"] == port_probe.url and note["public_base_url"] == port_probe.url
        result = _second_terminal(run_file, "--from", "+1 415 555 2671", "--body", "My router is down")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"POST {port_probe.url}/webhooks/twilio/messages -> 200" in result.stdout
        entry = wait_for(lambda: InboundEntry.objects.first(), what="the journal entry")
        assert entry.payload["Body"] == ["My router is down"]
    finally:
        stop_server(port_probe)
    assert not (tmp_path / "server.json").exists(), "the note goes when the server stops"


@needs_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simulate_sms_signs_for_the_public_base_url_of_the_server(tmp_path, sms_inbox):
    """`make run` serves on 127.0.0.1 and signs for http://localhost:<port>: one origin."""
    run_file = str(tmp_path / "server.json")
    server = start_server(tmp_path, SERVER_RUN_FILE=run_file, PUBLIC_BASE_URL="http://localhost:1")
    try:
        result = _second_terminal(run_file, "--from", "+1 415 555 2671")
        assert result.returncode == 0, result.stdout + result.stderr
        assert InboundEntry.objects.count() == 1
    finally:
        stop_server(server)


def test_a_note_left_by_a_killed_server_is_ignored(tmp_path, settings):
    from apps.core.runfile import running_server

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    settings.SERVER_RUN_FILE = str(tmp_path / "server.json")
    (tmp_path / "server.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "public_base_url": "http://x", "pid": int(dead.stdout)})
    )
    assert running_server() is None
    (tmp_path / "server.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "public_base_url": "http://x", "pid": os.getpid()})
    )
    assert running_server().url == "http://127.0.0.1:9"
