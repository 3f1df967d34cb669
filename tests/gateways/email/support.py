"""Helpers of the mail-in tests: fixtures on disk and mails built on the spot."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from django.utils import timezone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
REAL_CLIENTS = FIXTURES / "real-clients"
DOMAIN = "support.example"
INBOX_ADDRESS = f"help@{DOMAIN}"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_mail(
    *,
    sender: str = "Jane Doe <jane@customer.example>",
    to: str = INBOX_ADDRESS,
    subject: str = "Router problem",
    body: str = "My router is down.",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> bytes:
    """A mail as a client writes it (CRLF line ends, as on the wire)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(timezone.now())
    mail["Message-ID"] = message_id if message_id is not None else f"<{uuid.uuid4().hex}@customer.example>"
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
