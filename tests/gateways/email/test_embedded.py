"""`make run`'s one process (`manage.py serve`, tasks in-process) takes mail in too: the SMTP
listener on SMTP_LISTEN when INBOUND_EMAIL_DOMAIN is set, and IMAP polling every IMAP_POLL_SECONDS."""

from __future__ import annotations

import smtplib
import time

import pytest
import requests

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


def test_serve_in_embedded_mode_takes_mail_by_smtp_imap_and_the_webhook(imap_inbox, mailbox, tmp_path):
    smtp_port = free_port()
    mailbox.append(make_mail(body="Found by IMAP"))
    server = start_server(
        tmp_path,
        SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        INBOUND_EMAIL_DOMAIN=DOMAIN,
        IMAP_POLL_SECONDS="1",
        EMAIL_WEBHOOK_SECRET="embedded-secret",
    )
    # Over the ASGI server, and bigger than Django's 2 MiB form limit: the webhook reads raw mail.
    big = make_mail(
        body="Posted to the webhook", attachments=[("scan.pdf", b"%PDF" + b"x" * 3_000_000, "application/pdf")]
    )
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("jane@customer.example", [INBOX_ADDRESS], make_mail(body="Sent to serve"))
        response = requests.post(
            server.url + "/webhooks/email/inbound",
            data=big,
            headers={
                "Authorization": "Bearer embedded-secret",
                "Content-Type": "message/rfc822",
                "X-Envelope-To": INBOX_ADDRESS,
            },
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert wait_for(lambda: Message.objects.filter(inbox=imap_inbox).count() == 3), server.log()
    finally:
        stop_server(server)
    assert sorted(Message.objects.filter(inbox=imap_inbox).values_list("body", flat=True)) == [
        "Found by IMAP",
        "Posted to the webhook",
        "Sent to serve",
    ]
    assert sorted(InboundEntry.objects.values_list("payload__transport", flat=True)) == ["imap", "smtp", "webhook"]
    webhook_entry = InboundEntry.objects.get(payload__transport="webhook")
    assert bytes(webhook_entry.raw) == big
    assert webhook_entry.message.attachments.get().size == 3_000_004
    assert f"SMTP listener on 127.0.0.1:{smtp_port} for @{DOMAIN}" in server.log()
