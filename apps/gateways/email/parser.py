"""A raw mail -> what the router and the console need (docs/EMAIL.md §2).

The standard library's `email` package with `policy=default` does the MIME work; the bodies'
bytes are decoded here (mime.decode_bytes) so that a wrong or unknown charset never raises.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import functools
from dataclasses import dataclass, field
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.gateways.base import InboundAttachment
from apps.gateways.email import mime
from apps.gateways.email.auto import automatic_reasons
from apps.gateways.email.bounces import parse_dsn, parse_heuristic_bounce
from apps.gateways.email.html import html_to_text, sanitize_html
from apps.gateways.email.reply import new_text

# Parts of a delivery report that are read into meta["email"]["bounce"], not stored as files.
REPORT_PARTS = {
    "message/delivery-status",
    "message/global-delivery-status",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
}


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    subject: str
    from_: dict[str, str]
    reply_to: list[dict[str, str]]
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    delivered_to: list[str]
    date: dt.datetime | None
    text: str  # the full plain text (HTML-only mail: converted)
    new_text: str  # quotes and signatures stripped; the full text when that leaves nothing
    html: str  # sanitized
    attachments: list[InboundAttachment]
    auto: list[str]
    bounce: dict[str, Any] | None
    size: int
    headers: dict[str, list[str]] = field(default_factory=dict)

    def meta(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": self.references,
            "subject": self.subject,
            "from": self.from_,
            "reply_to": self.reply_to,
            "to": self.to,
            "cc": self.cc,
            "delivered_to": self.delivered_to,
            "envelope": envelope,
            "date": self.date.isoformat() if self.date else None,
            "text": self.text,
            "html": self.html,
            "auto": self.auto,
            "bounce": self.bounce,
            "size": self.size,
        }


class _HeadersParsedOnce(HeaderRegistry):
    """The default header registry, remembering what it parsed. `policy=default` parses a header
    each time it is read, and reading a mail's structure (get_body, each part's type, charset,
    disposition, filename) reads every Content-Type and Content-Disposition dozens of times —
    most of the parse time of an ordinary mail. A parsed header is immutable, so one object can
    answer every read of the same (name, value). Long values (a folded References list) are
    parsed each time, so that what the cache holds stays small (1024 × 2000 characters at most)."""

    LONGEST = 2000

    def __init__(self) -> None:
        super().__init__()
        self._parse = functools.lru_cache(maxsize=1024)(super().__call__)

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > self.LONGEST:
            return super().__call__(name, value)
        return self._parse(name, value)  # type: ignore[no-any-return]


POLICY = email.policy.default.clone(header_factory=_HeadersParsedOnce())


def message_from_bytes(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(message, EmailMessage)
    return message


def raw_headers(message: Message) -> dict[str, list[str]]:
    """Lower-cased header name -> raw values (encoded words kept), in order."""
    out: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        out.setdefault(name.strip().lower(), []).append(str(value))
    return out


def _date(values: list[str]) -> dt.datetime | None:
    if not values:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(mime.header_text(values[0]).strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    now = timezone.now()
    if not (dt.datetime(1990, 1, 1, tzinfo=dt.UTC) < parsed < now + dt.timedelta(days=1)):
        return None
    return parsed


def part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    text = mime.decode_bytes(data, part.get_content_charset()).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and str(part.get_param("format", "") or "").lower() == "flowed":
        text = mime.unflow(text, delsp=str(part.get_param("delsp", "") or "").lower() == "yes")
    return text


def _leaves(part: Message) -> list[Message]:
    """The non-multipart parts, depth first; an attached mail (message/rfc822) is one leaf."""
    payload = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(payload, list):
        return [leaf for sub in payload if isinstance(sub, Message) for leaf in _leaves(sub)]
    return [part]


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001 - a broken RFC 2231 parameter
        name = ""
    return mime.decoded(name) if name else ""


def _attachment(part: Message, index: int) -> InboundAttachment:
    content_type = part.get_content_type()
    filename = _filename(part)
    if content_type in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        inner_message = inner[0] if isinstance(inner, list) and inner else None
        try:
            data = inner_message.as_bytes() if isinstance(inner_message, Message) else b""
        except Exception:  # noqa: BLE001 - re-serialising a broken inner mail
            data = str(inner_message).encode("utf-8", "replace")
        if not filename:
            subject = mime.decoded(str(inner_message.get("Subject", ""))) if isinstance(inner_message, Message) else ""
            filename = (subject[:80] or "message") + ".eml"
    else:
        decoded_payload = part.get_payload(decode=True)
        data = decoded_payload if isinstance(decoded_payload, bytes) else b""
    content_id = mime.header_text(str(part.get("Content-ID", "") or "")).strip().strip("<>")
    if not filename:
        filename = f"part-{index}"
    limit = settings.EMAIL_ATTACHMENT_MAX_BYTES
    if len(data) > limit:
        return InboundAttachment(
            content_type=content_type,
            filename=filename,
            content_id=content_id,
            error=f"The file is larger than the {limit // (1024 * 1024) or limit} "
            f"{'MiB' if limit >= 1024 * 1024 else 'bytes'} limit ({len(data)} bytes); not stored.",
        )
    return InboundAttachment(data=data, content_type=content_type, filename=filename, content_id=content_id)


def _bodies(message: EmailMessage) -> tuple[Message | None, Message | None]:
    def pick(kind: str) -> Message | None:
        try:
            return message.get_body(preferencelist=(kind,))
        except Exception:  # noqa: BLE001
            return None

    plain, html = pick("plain"), pick("html")
    if plain is not None and (plain.get_content_disposition() == "attachment" or _filename(plain)):
        plain = None
    if html is not None and (html.get_content_disposition() == "attachment" or _filename(html)):
        html = None
    return plain, html


def parse_mail(raw: bytes, envelope: dict[str, Any] | None = None) -> ParsedMail:
    envelope = envelope or {}
    message = message_from_bytes(raw)
    headers = raw_headers(message)
    decoded_headers = {name: [mime.decoded(v) for v in values] for name, values in headers.items()}

    def first(name: str) -> str:
        return (decoded_headers.get(name) or [""])[0]

    senders = mime.addresses(headers.get("from", [])) or mime.addresses(headers.get("sender", []))
    from_ = senders[0] if senders else {"address": "", "name": ""}
    ids = mime.message_ids(headers.get("message-id", [])[:1])

    plain_part, html_part = _bodies(message)
    text = part_text(plain_part) if plain_part is not None else ""
    html_raw = part_text(html_part) if html_part is not None else ""
    extra_text: list[str] = []
    attachments: list[InboundAttachment] = []
    is_report = message.get_content_type() == "multipart/report"
    for index, leaf in enumerate(_leaves(message)):
        if leaf is plain_part or leaf is html_part:
            continue
        ctype = leaf.get_content_type()
        if is_report and (ctype in REPORT_PARTS or ctype in ("message/rfc822", "message/global")):
            continue
        inline_text = leaf.get_content_disposition() != "attachment" and not _filename(leaf)
        if ctype == "text/plain" and inline_text:
            extra_text.append(part_text(leaf))  # a client that split the text around an image
            continue
        if ctype == "text/html" and inline_text:
            continue  # the HTML twin of a text part kept above
        attachments.append(_attachment(leaf, index))
    if extra_text:
        text = "\n\n".join(t.strip("\n") for t in [text, *extra_text] if t.strip())
    if not text.strip() and html_raw:
        text = html_to_text(html_raw)

    envelope_sender = envelope.get("mail_from")
    if envelope_sender is None and "return-path" in headers:
        envelope_sender = mime.header_text(headers["return-path"][-1]).strip()
    subject = first("subject")
    bounce = parse_dsn(message) or parse_heuristic_bounce(
        message, subject=subject, from_address=from_["address"], envelope_sender=envelope_sender, text=text
    )
    auto = automatic_reasons(decoded_headers, envelope_sender=envelope_sender, from_address=from_["address"])
    if bounce is not None and "bounce" not in auto:
        auto.append("bounce")
    return ParsedMail(
        message_id=ids[0] if ids else "",
        in_reply_to=mime.message_ids(headers.get("in-reply-to", [])),
        references=mime.message_ids(headers.get("references", [])),
        subject=subject,
        from_=from_,
        reply_to=mime.addresses(headers.get("reply-to", [])),
        to=mime.addresses(headers.get("to", [])),
        cc=mime.addresses(headers.get("cc", [])),
        delivered_to=[a["address"] for a in mime.addresses(headers.get("delivered-to", []))],
        date=_date(headers.get("date", [])),
        text=text.strip("\n"),
        new_text=new_text(text) if text.strip() else "",
        html=sanitize_html(html_raw),
        attachments=attachments,
        auto=auto,
        bounce=bounce,
        size=len(raw),
        headers=decoded_headers,
    )
