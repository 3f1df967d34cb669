"""Helpers of the routing and mail-out tests: mails as clients write them, delivered through the
real intake (the journal), the real parser and the bus."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import format_datetime

from django.utils import timezone

DOMAIN = "support.example"
INBOX_ADDRESS = f"support@{DOMAIN}"
JANE = "jane@customer.example"
MALLORY = "mallory@evil.example"


def new_message_id(domain: str = "customer.example") -> str:
    return f"{uuid.uuid4().hex}@{domain}"


def compose(
    *,
    sender: str = f"Jane Doe <{JANE}>",
    to: str = INBOX_ADDRESS,
    subject: str = "Router problem",
    body: str = "My router is down.",
    html: str = "",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    reply_to: str | None = None,
    cc: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> bytes:
    """A mail as a client writes it (CRLF line ends, as on the wire). Ids without brackets."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    if cc:
        mail["Cc"] = cc
    if reply_to:
        mail["Reply-To"] = reply_to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(timezone.now())
    mail["Message-ID"] = f"<{message_id or new_message_id()}>"
    if in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        mail["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    if html:
        mail.add_alternative(html, subtype="html")
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dsn(*, original_message_id: str, recipient: str = JANE, status: str = "5.1.1", action: str = "failed") -> bytes:
    """An RFC 3464 delivery report about one of our mails, as Postfix sends it."""
    text = f"""From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>
To: {INBOX_ADDRESS}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Date: {format_datetime(timezone.now())}
Message-ID: <{new_message_id("mx.customer.example")}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.customer.example
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--B1
Content-Type: text/rfc822-headers

From: Acme Support <{INBOX_ADDRESS}>
To: {recipient}
Message-ID: <{original_message_id}>
Subject: Re: Router problem

--B1--
"""
    return text.replace("\n", "\r\n").encode()
