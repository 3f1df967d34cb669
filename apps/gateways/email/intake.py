"""One intake for every way mail comes in (SMTP, IMAP, webhook): the raw bytes into the journal.

The dedupe key (docs/EMAIL.md §1) is the Message-ID plus a hash of what identifies the mail —
From, To, Cc, Subject, Date and the body — and not of what relays add on the way (Received,
Return-Path, Delivered-To, X-…), nor of line endings and trailing blanks, so the copy the SMTP
listener got and the copy IMAP found in a mailbox are one row. A mail without a Message-ID is
deduplicated by the content hash alone.
"""

from __future__ import annotations

import hashlib
import logging
import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from apps.bus.models import InboundEntry
from apps.bus.services import inbound_accept
from apps.gateways.email import mime

log = logging.getLogger(__name__)

SOURCE = "email"
IDENTIFYING_HEADERS = ("from", "to", "cc", "subject", "date")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _split(raw: bytes) -> tuple[bytes, bytes]:
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def _headers(raw: bytes) -> dict[str, list[str]]:
    head, _ = _split(raw)
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    out: dict[str, list[str]] = {}
    for name, value in parsed.raw_items():
        out.setdefault(name.strip().lower(), []).append(" ".join(mime.header_text(str(value)).split()))
    return out


def content_hash(raw: bytes, headers: dict[str, list[str]] | None = None) -> str:
    headers = headers if headers is not None else _headers(raw)
    _, body = _split(raw)
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    body = b"\n".join(line.rstrip(b" \t") for line in lines).rstrip(b"\n")
    digest = hashlib.sha256()
    for name in IDENTIFYING_HEADERS:
        digest.update(f"{name}:{chr(31).join(headers.get(name, []))}\n".encode("utf-8", "surrogatepass"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def dedupe_key(raw: bytes) -> str:
    headers = _headers(raw)
    ids = mime.message_ids(headers.get("message-id", [])[:1])
    return hashlib.sha256(f"{ids[0] if ids else ''}\n{content_hash(raw, headers)}".encode()).hexdigest()


def _sender(raw: bytes, mail_from: str) -> str:
    try:
        found = mime.addresses(_headers(raw).get("from", []))
    except Exception:  # noqa: BLE001 - the parser flags it later; the journal takes it anyway
        found = []
    return found[0]["address"] if found else mail_from.strip("<> ").lower()


def envelope_of(
    *,
    transport: str,
    mail_from: str | None = None,
    rcpt_tos: list[str] | None = None,
    peer: str = "",
    inbox_id: int | None = None,
    imap: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The journal payload of a mail (docs/EMAIL.md §1). `mail_from` None: not known (IMAP)."""
    envelope: dict[str, Any] = {
        "mail_from": None if mail_from is None else mail_from.strip().strip("<>"),
        "rcpt_tos": [r.strip().strip("<>").lower() for r in (rcpt_tos or []) if r.strip()],
        "transport": transport,
        "peer": peer,
        "inbox_id": inbox_id,
    }
    if imap is not None:
        envelope["imap"] = imap
    return envelope


def email_accept(*, raw: bytes, envelope: dict[str, Any]) -> tuple[InboundEntry | None, bool]:
    """Make a mail durable (one INSERT, deduplicated by the journal's unique constraint).

    Returns (entry, created); a mail already in the journal returns (None, False). The caller
    may acknowledge the mail (SMTP 250, IMAP move, HTTP 200) once this has returned.
    """
    flag = "" if raw.strip() else "the mail is empty"
    entry, created = inbound_accept(
        source=SOURCE,
        provider_message_id=dedupe_key(raw),
        channel="email",
        sender=_sender(raw, envelope.get("mail_from") or ""),
        payload=envelope,
        raw=raw,
        flag_reason=flag,
    )
    if created:
        log.info(
            "mail %s accepted by %s (%d bytes, to %s)",
            entry.provider_message_id[:12] if entry else "?",
            envelope.get("transport"),
            len(raw),
            ", ".join(envelope.get("rcpt_tos") or []) or "-",
        )
    return entry, created
