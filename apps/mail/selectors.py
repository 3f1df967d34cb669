"""Reads of the email channel, scoped to what an agent may see (the conversation's inbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.accounts.models import Agent
from apps.accounts.permissions import inbox_scope
from apps.conversations.models import Message
from apps.mail.models import EmailMessage


def email_message_visible(*, agent: Agent, message_id: int) -> EmailMessage | None:
    """The email data of a message, when the agent is a member of its conversation's inbox."""
    return (
        EmailMessage.objects.select_related("message")
        .filter(inbox_scope(agent, field="message__conversation__inbox"), message_id=message_id)
        .first()
    )


def email_details(*, record: EmailMessage) -> dict[str, Any]:
    message: Message = record.message
    has_original = record.entry_id is not None or record.bounce_entry_id is not None
    return {
        "message": message.pk,
        "subject": record.subject,
        "message_id": record.rfc_id,
        "in_reply_to": record.in_reply_to,
        "references": record.references,
        "from": record.from_address,
        "to": record.to,
        "cc": record.cc,
        "reply_to": record.reply_to,
        "date": record.date.isoformat() if record.date else None,
        "text": record.text,
        "html": record.html,
        "auto_reasons": record.auto_reasons,
        "suspicious_reason": record.suspicious_reason,
        "bounce": record.bounce,
        "original_url": f"/api/v1/messages/{message.pk}/original" if has_original else None,
    }


@dataclass(frozen=True)
class RawMail:
    data: bytes
    filename: str
    what: str  # "mail" (the customer's, as received) or "bounce" (the report that failed our reply)


def email_original(*, agent: Agent, message_id: int) -> RawMail | None:
    """The full raw mail behind a message: the customer's mail as received, or for a reply of
    ours that bounced, the delivery report."""
    record = (
        EmailMessage.objects.select_related("entry", "bounce_entry")
        .filter(inbox_scope(agent, field="message__conversation__inbox"), message_id=message_id)
        .first()
    )
    if record is None:
        return None
    if record.entry is not None:
        return RawMail(bytes(record.entry.raw or b""), f"message-{message_id}.eml", "mail")
    if record.bounce_entry is not None:
        return RawMail(bytes(record.bounce_entry.raw or b""), f"message-{message_id}-bounce.eml", "bounce")
    return None
