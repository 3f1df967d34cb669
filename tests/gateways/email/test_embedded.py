"""`make run`'s one process (`manage.py serve`, tasks in-process) takes mail in too: the SMTP
listener on SMTP_LISTEN when INBOUND_EMAIL_DOMAIN is set, and IMAP polling every IMAP_POLL_SECONDS."""

from __future__ import annotations

import smtplib
import time

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from tests.gateways.email.support import DOMAIN, INBOX_ADDRESS, make_mail
from tests.servers import free_port, start_server, stop_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(predicate, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_serve_in_embedded_mode_listens_for_smtp_and_polls_imap(imap_inbox, mailbox, tmp_path):
    smtp_port = free_port()
    mailbox.append(make_mail(body="Found by IMAP"))
    server = start_server(
        tmp_path, SMTP_LISTEN=f"127.0.0.1:{smtp_port}", INBOUND_EMAIL_DOMAIN=DOMAIN, IMAP_POLL_SECONDS="1"
    )
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("jane@customer.example", [INBOX_ADDRESS], make_mail(body="Sent to serve"))
        assert wait_for(lambda: Message.objects.filter(inbox=imap_inbox).count() == 2), server.log()
    finally:
        stop_server(server)
    assert sorted(Message.objects.filter(inbox=imap_inbox).values_list("body", flat=True)) == [
        "Found by IMAP",
        "Sent to serve",
    ]
    assert sorted(InboundEntry.objects.values_list("payload__transport", flat=True)) == ["imap", "smtp"]
    assert f"SMTP listener on 127.0.0.1:{smtp_port} for @{DOMAIN}" in server.log()
