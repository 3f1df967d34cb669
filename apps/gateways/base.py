"""The adapter interface every channel shares, and the DTOs that cross it.

A gateway translates and does I/O; it holds no business rules. Four operations:
`verify(request)`, `parse_inbound(payload)`, `parse_status(payload)` and `send(outbound)`.
Inbound payloads (and raw bytes) are parsed from what the journal stored (not from the live request) so that
processing can be retried after the webhook has been answered.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

# A stored form payload: every field with all its values, as posted.
Payload = Mapping[str, list[str]]


def payload_value(payload: Payload, name: str) -> str:
    """The first value of a stored field ("" when the field is missing or empty)."""
    values = payload.get(name) or [""]
    return values[0] or ""


def payload_digest(raw: bytes) -> str:
    """The provider id of a payload that carries none: a digest of its bytes, so that the same
    bytes delivered again are still stored once by the journal's constraint."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class MalformedPayload(Exception):
    """Authentic but unusable input: kept raw and flagged for an admin, never dropped."""


class Unroutable(Exception):
    """Authentic input that no inbox or conversation will take (e.g. a mail to an unknown
    address): kept in the journal and flagged for an admin."""


class TransientSendError(Exception):
    """The provider may accept this later (rate limit, 5xx, network): retry with backoff.

    `retry_after` (seconds) is the provider's own wait (Telegram's 429 `retry_after`, an HTTP
    Retry-After): the outbox waits at least that long before the next try."""

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class SendOutcomeUnknown(TransientSendError):
    """The request may have reached the provider but its answer was lost (a timeout after the
    request was sent, a connection reset mid-answer). The outbox does not send again blindly:
    it asks the gateway (`Gateway.confirm`) whether the provider has the message first."""


class PermanentSendError(Exception):
    """The provider will never accept this send as it is: record it, never retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class InboundAttachment:
    """A file that came with a message: either a provider URL fetched later (Twilio media), or
    the bytes themselves (email parts, widget uploads), stored with the message."""

    url: str = ""
    content_type: str = ""
    data: bytes | None = None
    filename: str = ""
    content_id: str = ""  # an inline part referenced from HTML as cid:<content_id>
    error: str = ""  # refused by the channel's limits (size, type): recorded, not stored


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # an Identity kind: phone, whatsapp, email, …
    sender: str  # normalised address on that channel
    sender_display: str
    recipient: str  # the address written to (finds the inbox)
    provider_message_id: str
    text: str
    received_at: dt.datetime
    sender_name: str = ""
    attachments: tuple[InboundAttachment, ...] = ()
    opt_out: str = ""  # "stop", "start", "help" or ""
    meta: dict[str, Any] = field(default_factory=dict)
    # Set when the gateway already knows the inbox (a widget visitor, a mailbox); otherwise the
    # inbox is found by `recipient`.
    inbox_id: int | None = None


@dataclass(frozen=True)
class DeliveryStatus:
    provider_message_id: str
    status: str  # one of Message.Status
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    channel: str
    to: str
    sender: str
    body: str
    media_urls: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # one of Message.Status


class Gateway(abc.ABC):
    channel: str

    @abc.abstractmethod
    def verify(self, request: HttpRequest) -> bool: ...

    @abc.abstractmethod
    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        """`payload` and `raw` are what the intake stored in the journal (form fields, or the
        envelope and the raw bytes of a mail)."""

    @abc.abstractmethod
    def parse_status(self, payload: Payload) -> list[DeliveryStatus]: ...

    @abc.abstractmethod
    def send(self, outbound: OutboundMessage) -> SendResult: ...

    def confirm(self, outbound: OutboundMessage, *, attempted_at: dt.datetime) -> SendResult | None:
        """After an attempt whose outcome is unknown (a crash, `SendOutcomeUnknown`): the
        provider's record of this send if it has one, None if it certainly never got it (the
        outbox then sends again). Raise TransientSendError when the provider cannot tell yet.

        The default answers None: right only for channels where sending again is harmless (the
        provider dedupes by our idempotency key, or the receiver by a fixed message id)."""
        return None

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """Provider media handed over as a URL: (bytes, content type)."""
        raise PermanentSendError("media_unsupported", f"{self.channel} does not fetch media")
