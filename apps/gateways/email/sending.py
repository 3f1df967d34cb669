"""Sending one mail by SMTP through Django's email backend (`EMAIL_URL`).

Translation and I/O only: everything the mail says (headers, subject, threading, files) was
decided by `apps.mail.outbound` and comes in `outbound.options["email"]`. SMTP answers map to
the outbox's two errors: a 4xx or a connection problem may work later (retried with backoff);
a 5xx will not (the reply is marked failed, in words).
"""

from __future__ import annotations

import smtplib
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from apps.gateways.base import OutboundMessage, PermanentSendError, SendResult, TransientSendError

# The server refused our login: a setting to fix, not a property of this mail. Retried (bounded)
# so that replies written meanwhile go out once EMAIL_URL is corrected.
AUTH_CODES = {530, 534, 535, 538}


def _angle(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"


def build_email(outbound: OutboundMessage) -> EmailMultiAlternatives:
    spec: dict[str, Any] = outbound.options.get("email") or {}
    headers: dict[str, str] = {"Message-ID": _angle(spec["message_id"])}
    if spec.get("in_reply_to"):
        headers["In-Reply-To"] = " ".join(_angle(i) for i in spec["in_reply_to"])
    if spec.get("references"):
        headers["References"] = " ".join(_angle(i) for i in spec["references"])
    headers.update(spec.get("headers") or {})
    mail = EmailMultiAlternatives(
        subject=spec.get("subject") or "",
        body=outbound.body,
        from_email=formataddr((spec.get("from_name") or "", outbound.sender)),
        to=[outbound.to],
        reply_to=[spec["reply_to"]] if spec.get("reply_to") else None,
        headers=headers,
    )
    if spec.get("html"):
        mail.attach_alternative(spec["html"], "text/html")
    for filename, data, content_type in spec.get("attachments") or []:
        mail.attach(filename, data, content_type or "application/octet-stream")
    return mail


def _refused(code: int, text: str) -> Exception:
    words = f"{code} {text}".strip()
    if 400 <= code < 500 or code in AUTH_CODES:
        return TransientSendError(f"the mail server answered {words}")
    return PermanentSendError(f"smtp_{code}", f"The mail server refused the mail: {words}")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def send_email(outbound: OutboundMessage) -> SendResult:
    """Send one mail; its Message-ID is the provider id (a retry sends the same id)."""
    mail = build_email(outbound)
    try:
        connection = get_connection(fail_silently=False, timeout=settings.EMAIL_SEND_TIMEOUT)
        connection.send_messages([mail])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = min(exc.recipients.values(), key=lambda answer: answer[0])
        raise _refused(code, _text(text)) from exc
    except smtplib.SMTPResponseException as exc:  # MAIL FROM, DATA, HELO, AUTH, connect banner
        raise _refused(exc.smtp_code, _text(exc.smtp_error)) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out
        raise TransientSendError(f"could not talk to the mail server: {exc!r}") from exc
    return SendResult(provider_message_id=outbound.options["email"]["message_id"], status="sent")
