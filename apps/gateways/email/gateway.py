"""The email gateway: parses what an intake journaled, verifies the raw-MIME webhook, and hands
sends to the SMTP sender (`sending.py`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from apps.gateways.base import (
    DeliveryStatus,
    Gateway,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    Payload,
    SendResult,
)
from apps.gateways.email.intake import dedupe_key
from apps.gateways.email.parser import parse_mail
from apps.gateways.email.sending import send_email

log = logging.getLogger(__name__)


def _same(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def webhook_credential(request: HttpRequest) -> str:
    """The secret a caller presented: `Authorization: Bearer <secret>`, or the password of
    `Authorization: Basic` (for providers that take credentials in the URL)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


class EmailGateway(Gateway):
    channel = "email"

    def verify(self, request: HttpRequest) -> bool:
        secret = settings.EMAIL_WEBHOOK_SECRET
        if not secret:
            return False
        given = webhook_credential(request)
        return bool(given) and _same(given, secret)

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        envelope: dict[str, Any] = dict(payload)
        if not raw or not raw.strip():
            raise MalformedPayload("the journal entry holds no mail")
        try:
            parsed = parse_mail(raw, envelope)
        except Exception as exc:  # noqa: BLE001 - parsing is deterministic: retrying will not help
            log.exception("mail could not be parsed")
            raise MalformedPayload(f"the mail cannot be parsed: {exc!r}") from exc
        sender = parsed.from_["address"] or (envelope.get("mail_from") or "").lower()
        if not sender:
            raise MalformedPayload("the mail has no sender address (no From, no envelope sender)")
        name = parsed.from_["name"]
        rcpt_tos = envelope.get("rcpt_tos") or []
        recipient = rcpt_tos[0] if rcpt_tos else (parsed.to[0]["address"] if parsed.to else "")

        return [
            InboundMessage(
                channel="email",
                sender=sender,
                sender_name=name,
                sender_display=f"{name} <{sender}>" if name else sender,
                recipient=recipient,
                provider_message_id=dedupe_key(raw),
                text=parsed.new_text,
                received_at=parsed.date or timezone.now(),
                attachments=tuple(parsed.attachments),
                meta={"email": parsed.meta(envelope)},
                inbox_id=envelope.get("inbox_id"),
            )
        ]

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        # Bounces arrive as mail (meta["email"]["bounce"]); the router applies them.
        return []

    def send(self, outbound: OutboundMessage) -> SendResult:

        return send_email(outbound)
