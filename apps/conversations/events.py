"""Event payloads for conversations and messages, built in one place."""

from __future__ import annotations

from typing import Any

from apps.bus.events import EventType, event_append, events_append
from apps.conversations.models import Attachment, Conversation, Message

PREVIEW_CHARS = 200
EXCERPT_CHARS = 140


class NotificationKind:
    MENTION = "mention"
    ASSIGNED = "assigned"


STATUS_WORDS = {
    "21211": "The number is not a valid phone number.",
    "21408": "Sending to this country is not enabled on the account.",
    "21610": "The customer has opted out (replied STOP).",
    "21612": "The number cannot be reached from this sender.",
    "21614": "The number cannot receive SMS.",
    "21635": "The number is a landline.",
    "30003": "The customer's phone is unreachable (off or out of signal).",
    "30004": "The message was blocked by the carrier or the customer.",
    "30005": "The number is unknown to the carrier.",
    "30006": "Landline or unreachable carrier.",
    "30007": "The carrier filtered the message.",
    "30008": "Unknown delivery error from the carrier.",
    # WhatsApp through Twilio (channels-next.md §3.5; https://www.twilio.com/docs/whatsapp/tutorial/error-codes).
    "63003": "WhatsApp: the number is not a valid WhatsApp recipient.",
    "63015": "WhatsApp sandbox: this customer has not joined the sandbox (they must send the join code first).",
    "63016": (
        "Outside WhatsApp's 24-hour window: the customer last wrote more than 24 hours ago, "
        "so WhatsApp only takes an approved template. Send a template instead."
    ),
    "63018": "WhatsApp's rate limit for this sender was reached; send again in a little while.",
    "63019": "WhatsApp could not download or send the attached media.",
    "63020": "WhatsApp Business: the business has not accepted the invitation to this sender (ask the admin).",
    "63021": "WhatsApp refused the message as invalid (bad content or parameters).",
    "63022": "WhatsApp: the template's parameters (variables) are not valid.",
    "63024": "WhatsApp: the recipient is not a valid WhatsApp user (no account on this number).",
    "63027": "WhatsApp: the template does not exist in this language.",
    "63028": "WhatsApp: the number of variables does not match the template.",
    "63029": "WhatsApp: the template's category does not allow this message.",
    "63032": "WhatsApp did not deliver it: the customer's number is in a WhatsApp experiment that holds back business messages.",
    "opted_out": "The customer has opted out (replied STOP); nothing was sent.",
    "gave_up": "Sending failed repeatedly; gave up.",
}


def error_in_words(code: str, fallback: str = "") -> str:
    return STATUS_WORDS.get(code, fallback or (f"Provider error {code}." if code else ""))


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "inbox": conversation.inbox_id,
        "contact": conversation.contact_id,
        "status": conversation.status,
        "assignee": conversation.assignee_id,
        "team": conversation.team_id,
        "priority": conversation.priority,
        "last_activity_at": conversation.last_activity_at.isoformat(),
        "waiting_since": conversation.waiting_since.isoformat() if conversation.waiting_since else None,
        "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        "noise": conversation.noise,
        "triage_reason": conversation.triage_reason,
    }


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "filename": attachment.filename,
        "url": f"/api/v1/attachments/{attachment.pk}" if attachment.file else None,
        "error": attachment.error,
    }


def message_data(message: Message) -> dict[str, Any]:
    # Only messages that have attachments pay the query (or use a prefetch).
    attachments = message.attachments.all() if message.meta.get("attachments") else []
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "direction": message.direction,
        "kind": message.kind,
        "channel": message.channel,
        "identity": message.identity_id,
        "sender": message.sender_id,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
        "attachments": [attachment_data(a) for a in attachments],
        "meta": message.meta,
    }


def message_preview(message: Message) -> dict[str, Any] | None:
    """What a conversation list shows of its newest message; activities are not shown there."""
    if message.kind == Message.Kind.ACTIVITY:
        return None
    return {
        "body": message.body[:PREVIEW_CHARS],
        "direction": message.direction,
        "kind": message.kind,
        "channel": message.channel,
        "created_at": message.created_at.isoformat(),
    }


def emit_conversation(
    conversation: Conversation, type: str, changes: list[str] | None = None, labels: list[str] | None = None
) -> None:
    data = conversation_data(conversation)
    if changes is not None:
        data["changes"] = changes
    if labels is not None:  # only when they changed: reading them costs a query on every emit
        data["labels"] = labels
    event_append(type=type, data=data, conversation_id=conversation.pk, inbox_id=conversation.inbox_id)


def emit_notifications(
    *,
    conversation: Conversation,
    agent_ids: list[int],
    kind: str,
    by: Any = None,
    message: Message | None = None,
    excerpt: str = "",
) -> None:
    """Tell these agents (only them) that something needs their attention."""
    if not agent_ids:
        return
    data = {
        "kind": kind,
        "conversation": conversation.pk,
        "message": message.pk if message else None,
        "by": {"id": by.pk, "name": by.name} if by is not None else None,
        "excerpt": excerpt[:EXCERPT_CHARS],
    }
    events_append(
        [
            dict(
                type=EventType.NOTIFICATION_CREATED,
                data=data,
                conversation_id=conversation.pk,
                inbox_id=conversation.inbox_id,
                agent_id=agent_id,
            )
            for agent_id in agent_ids
        ]
    )


def notify_assigned(*, conversation: Conversation, by: Any = None) -> None:
    """The conversation was given to its assignee by someone else (or by auto-assignment)."""
    if conversation.assignee_id is None or (by is not None and by.pk == conversation.assignee_id):
        return
    preview = conversation.last_message or {}
    emit_notifications(
        conversation=conversation,
        agent_ids=[conversation.assignee_id],
        kind=NotificationKind.ASSIGNED,
        by=by,
        excerpt=preview.get("body", ""),
    )


def emit_message(message: Message, type: str = EventType.MESSAGE_CREATED) -> None:
    event_append(
        type=type,
        data=message_data(message),
        conversation_id=message.conversation_id,
        inbox_id=message.inbox_id,
    )
