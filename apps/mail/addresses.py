"""Addresses, Message-IDs and subjects as the email rules read and write them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from django.conf import settings

REPLY_LOCAL_RE = re.compile(r"^reply\+([0-9a-f]{32})$")
SUBJECT_TOKEN_RE = re.compile(r"\[#(\d{1,18})\]")
# Reply and forward prefixes of the common clients and languages: "Re:", "RE[2]:", "Fwd:",
# "AW:", "WG:", "SV:", "VS:", "Antw:", "TR:", "RIF:", "回复:".
REPLY_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|ynt|odp|回复|答复|转发)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
# Senders nobody should answer automatically (RFC 3834 §2, and the no-reply addresses of
# notification systems).
NO_ANSWER_LOCAL_RE = re.compile(
    r"^(?:mailer-daemon|postmaster|owner-.*|.*-request|.*-owner|no-?reply|do-?not-?reply|bounces?(?:[+-].*)?)$"
)

SUBJECT_MAX = 255
MAX_REFERENCES = 20


def clean_id(value: str) -> str:
    """A Message-ID as we compare and store it: no angle brackets or spaces, lower-cased."""
    return value.strip().strip("<>").strip().lower()


def clean_ids(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        item = clean_id(value or "")
        if item and len(item) <= 998:
            seen.setdefault(item, None)
    return list(seen)


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().lower().rpartition("@")
    return local, domain


def base_address(address: str) -> str:
    """support+billing@x -> support@x (subaddressing, RFC 5233)."""
    local, domain = split_address(address)
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.lower()


def reply_token_of(address: str) -> str | None:
    local, _ = split_address(address)
    match = REPLY_LOCAL_RE.match(local)
    return match.group(1) if match else None


def mail_domain(inbox_address: str) -> str:
    """The domain of our reply addresses and Message-IDs."""
    return settings.INBOUND_EMAIL_DOMAIN or split_address(inbox_address)[1] or "localhost"


def reply_address(token: str, inbox_address: str) -> str:
    return f"reply+{token}@{mail_domain(inbox_address)}"


def answers_nobody(address: str) -> bool:
    """Addresses that must never get an automatic answer (null senders, daemons, lists)."""
    local, _ = split_address(address)
    return not local or bool(NO_ANSWER_LOCAL_RE.match(local))


def _signature(text: str) -> str:
    # Unguessable but reproducible: a retried send carries the same Message-ID, and nobody can
    # forge a bounce or a reply for a message whose id they never saw.
    return hmac.new(settings.SECRET_KEY.encode(), f"email-id:{text}".encode(), hashlib.sha256).hexdigest()[:16]


def our_message_id(*, conversation_id: int, message_id: int, domain: str) -> str:
    return f"sd-{conversation_id}-{message_id}-{_signature(f'{conversation_id}/{message_id}')}@{domain}"


def anchor_message_id(*, conversation_id: int, domain: str) -> str:
    """A stable id first in every reply's References: clients that keep only References
    (or only the first of them) still thread with the conversation."""
    return f"sd-{conversation_id}-{_signature(f'{conversation_id}')}@{domain}"


def subject_tokens(subject: str) -> list[int]:
    return [int(token) for token in SUBJECT_TOKEN_RE.findall(subject or "")]


def subject_base(subject: str) -> str:
    """The ticket's subject: without reply prefixes, our token and extra spaces."""
    text = SUBJECT_TOKEN_RE.sub(" ", subject or "")
    previous = None
    while previous != text:
        previous = text
        text = REPLY_PREFIX_RE.sub("", text)
    return " ".join(text.split())[:SUBJECT_MAX]


def one_line(text: str, limit: int = 998) -> str:
    """Header-safe: no line breaks (a newline in a header is an injection)."""
    return " ".join((text or "").split())[:limit]
