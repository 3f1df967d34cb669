"""What a visitor may see: their own conversations, the messages in them, in the widget's shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core import signing
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Agent
from apps.conversations.models import Attachment, Conversation, Message
from apps.widget.models import Visitor
from apps.widget.services.common import _FILE_SALT, FILE_URL_MAX_AGE

log = logging.getLogger("apps.widget.services")

# --- what a visitor may see ---------------------------------------------------------------


def _conversations_q(visitor: Visitor) -> Q:
    """Conversations of this inbox the visitor (or, verified, the same host user) wrote in."""
    if visitor.user_id:
        return Q(
            inbox_id=visitor.inbox_id,
            messages__identity__visitors__user_id=visitor.user_id,
            messages__identity__visitors__inbox_id=visitor.inbox_id,
        )
    return Q(inbox_id=visitor.inbox_id, messages__identity_id=visitor.identity_id)


def visitor_conversation_ids(visitor: Visitor) -> list[int]:
    return list(
        Conversation.objects.filter(_conversations_q(visitor)).values_list("id", flat=True).distinct().order_by("id")
    )


def visitor_owns_conversation(visitor: Visitor, conversation_id: int) -> bool:
    return Conversation.objects.filter(_conversations_q(visitor), pk=conversation_id).exists()


def _visible_messages(conversation_ids: Sequence[int]) -> Any:
    return Message.objects.filter(conversation_id__in=list(conversation_ids), kind=Message.Kind.MESSAGE)


def visitor_messages_page(
    *, visitor: Visitor, before: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """Oldest-first page of the visitor's messages (never notes or activities), newest page first."""
    limit = max(1, min(int(limit), 100))
    ids = visitor_conversation_ids(visitor)
    query = _visible_messages(ids).select_related("sender").prefetch_related("attachments")
    if before is not None:
        query = query.filter(id__lt=before)
    rows = list(query.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    return list(reversed(rows[:limit])), more


_STATUS = {
    Message.Status.RECEIVED: "received",
    Message.Status.QUEUED: "queued",
    Message.Status.SENDING: "queued",
    Message.Status.SENT: "sent",
    Message.Status.DELIVERED: "delivered",
    Message.Status.READ: "delivered",
    Message.Status.UNDELIVERED: "failed",
    Message.Status.FAILED: "failed",
}


def client_id_of(provider_id: str | None) -> str | None:
    """The visitor's client id, kept in the provider id `widget:<public id>:<client id>`."""
    if not provider_id or not provider_id.startswith("widget:"):
        return None
    parts = provider_id.split(":", 2)
    return parts[2] if len(parts) == 3 else None


def _author_name(sender: Any) -> str:
    return (sender.display_name or sender.first_name or "Support") if sender else "Support"


def visitor_event_message(data: dict[str, Any]) -> dict[str, Any] | None:
    """The visitor's `msg` shape from a message event's data (apps.conversations.events.message_data),
    without touching the database except for the author's name (cached). None for notes and
    activities: a visitor never sees them."""
    if data.get("kind") != Message.Kind.MESSAGE:
        return None
    inbound = data.get("direction") == Message.Direction.INBOUND
    author = None
    if not inbound:
        author = {"name": _agent_name(data.get("sender"))}
    attachments = []
    for item in data.get("attachments") or []:
        attachments.append(
            {
                "id": item["id"],
                "name": item.get("filename", ""),
                "content_type": item.get("content_type", ""),
                "size": item.get("size", 0),
                "url": _signed_url(item["id"]) if item.get("url") else None,
            }
        )
    return {
        "id": data["id"],
        "client_id": client_id_of((data.get("meta") or {}).get("widget", {}).get("provider_id")) if inbound else None,
        "conversation": data["conversation"],
        "seq": data["seq"],
        "direction": "in" if inbound else "out",
        "text": data.get("body", ""),
        "author": author,
        "status": _STATUS.get(data.get("status", ""), "sent"),  # type: ignore[call-overload]
        "created_at": data["created_at"],
        "attachments": attachments,
    }


_names: dict[int, tuple[float, str]] = {}


def _agent_name(agent_id: Any) -> str:
    if not isinstance(agent_id, int):
        return "Support"
    cached = _names.get(agent_id)
    now = timezone.now().timestamp()
    if cached and now - cached[0] < 300:
        return cached[1]

    name = _author_name(Agent.objects.filter(pk=agent_id).first())
    _names[agent_id] = (now, name)
    return name


def _signed_url(attachment_id: int) -> str:
    return f"/widget/api/files/{signing.dumps(attachment_id, salt=_FILE_SALT, compress=True)}"


def attachment_url(attachment: Attachment) -> str:
    """A signed, time-limited path to one stored file (relative to the desk's base URL)."""
    return _signed_url(attachment.pk)


def attachment_from_signed(value: str) -> Attachment | None:
    try:
        pk = signing.loads(value, salt=_FILE_SALT, max_age=FILE_URL_MAX_AGE)
    except signing.BadSignature:
        return None
    return Attachment.objects.filter(pk=pk).exclude(file="").first() if isinstance(pk, int) else None


def visitor_message_data(message: Message) -> dict[str, Any]:
    """What a visitor sees of a message (the widget's `msg` shape): no notes, ids or meta of ours."""
    inbound = message.direction == Message.Direction.INBOUND
    attachments = message.attachments.all() if message.meta.get("attachments") else []
    author = None
    if not inbound:
        sender = message.sender
        author = {"name": _author_name(sender)}
    return {
        "id": message.pk,
        "client_id": client_id_of(message.provider_id) if inbound else None,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "direction": "in" if inbound else "out",
        "text": message.body,
        "author": author,
        "status": _STATUS.get(message.status, "sent"),  # type: ignore[call-overload]
        "created_at": message.created_at.isoformat(),
        "attachments": [
            {
                "id": a.pk,
                "name": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": attachment_url(a) if a.file else None,
            }
            for a in attachments
        ],
    }
