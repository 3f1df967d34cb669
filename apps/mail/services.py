"""Writes of the email channel's own rows: threads, stored Message-IDs and per-mail data."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

from apps.accounts.models import Inbox
from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.contacts.services import identity_attach
from apps.conversations.models import Conversation, Message
from apps.core.errors import InvalidInput
from apps.gateways.base import InboundMessage
from apps.mail.addresses import clean_id, clean_ids, subject_base
from apps.mail.models import EmailMessage, EmailMessageId, EmailThread

CID_SRC_RE = re.compile(r"""(src\s*=\s*["']?)cid:([^"'\s>]+)""", re.IGNORECASE)


def email_thread_for(
    *, conversation: Conversation, subject: str = "", suspicious_reason: str = "", new: bool = False
) -> EmailThread:
    """The conversation's email thread, created on first use. The caller holds the conversation's
    lock; `new`: the caller created the conversation in this transaction (it has no thread)."""
    thread = None if new else EmailThread.objects.filter(conversation=conversation).first()
    if thread is not None:
        return thread
    send_inbox = conversation.inbox if conversation.inbox.channel == Inbox.Channel.EMAIL else None
    return EmailThread.objects.create(
        conversation=conversation,
        subject=subject_base(subject),
        send_inbox=send_inbox,
        suspicious_reason=suspicious_reason[:500],
    )


def _people(items: Any) -> list[dict[str, str]]:
    out = []
    for item in items or []:
        if isinstance(item, dict) and item.get("address"):
            out.append({"address": str(item["address"]).lower(), "name": str(item.get("name") or "")})
    return out


def _date(value: Any) -> dt.datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _inline_images(html: str, inbound: InboundMessage, message: Message) -> str:
    """cid: references point at the stored parts' protected URLs (the console loads nothing else)."""
    if "cid:" not in html.lower() or not inbound.attachments:
        return html
    stored = list(message.attachments.order_by("id"))
    urls = {}
    for item, attachment in zip(inbound.attachments, stored, strict=False):
        if item.content_id and attachment.file:
            urls[clean_id(item.content_id)] = f"/api/v1/attachments/{attachment.pk}"

    def swap(match: re.Match[str]) -> str:
        url = urls.get(clean_id(match.group(2)))
        return f"{match.group(1)}{url}" if url else f"{match.group(1)}about:blank"

    return CID_SRC_RE.sub(swap, html)


def email_inbound_record(
    *,
    entry: InboundEntry,
    inbound: InboundMessage,
    message: Message,
    suspicious_reason: str = "",
    conversation_suspicious: str = "",
    thread: EmailThread | None = None,
    new_conversation: bool = False,
) -> EmailMessage:
    """Keep what the console shows of a customer's mail, its Message-ID for threading, and the
    conversation's thread (subject, reply token). Inside the router's transaction.
    `new_conversation`: the mail opened its conversation (which has no thread yet)."""
    mail: dict[str, Any] = inbound.meta.get("email") or {}
    rfc_id = clean_id(mail.get("message_id") or "")
    sender = mail.get("from") or {}
    record = EmailMessage.objects.create(
        message=message,
        subject=mail.get("subject") or "",
        rfc_id=rfc_id[:998],
        in_reply_to=clean_ids(mail.get("in_reply_to") or []),
        references=clean_ids(mail.get("references") or []),
        from_address={"address": inbound.sender, "name": str(sender.get("name") or inbound.sender_name or "")},
        to=_people(mail.get("to")),
        cc=_people(mail.get("cc")),
        reply_to=_people(mail.get("reply_to")),
        date=_date(mail.get("date")),
        text=mail.get("text") or inbound.text,
        html=_inline_images(mail.get("html") or "", inbound, message),
        auto_reasons=[str(reason) for reason in mail.get("auto") or []],
        suspicious_reason=suspicious_reason[:500],
        entry=entry,
    )
    if rfc_id:
        EmailMessageId.objects.bulk_create(
            [
                EmailMessageId(
                    rfc_id=rfc_id,
                    conversation_id=message.conversation_id,
                    message=message,
                    direction=EmailMessageId.Direction.INBOUND,
                )
            ],
            ignore_conflicts=True,
        )
    if thread is None:  # the router knows the thread of a conversation it threaded into
        email_thread_for(
            conversation=message.conversation,
            subject=mail.get("subject") or "",
            suspicious_reason=conversation_suspicious,
            new=new_conversation,
        )
    return record


def email_identity_add(*, contact_id: int, address: str) -> tuple[Identity, bool]:
    """An email address an agent adds to a contact (the customer told them on another channel).

    It is a claim, so it is unverified until the customer answers through a reply address we
    mailed to it. An address that already belongs to another contact is refused: merge the two
    contacts instead. Returns (identity, created).
    """
    normalized = (address or "").strip().lower()
    try:
        validate_email(normalized)
    except ValidationError:
        raise InvalidInput(f"{address!r} is not an email address", code="invalid_address") from None
    return identity_attach(contact_id=contact_id, kind=Identity.Kind.EMAIL, address=normalized)
