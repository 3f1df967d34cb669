"""Timeline entries that record what happened (never sent to anyone)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.conversations.models import Conversation, Message


def activity_add(
    conversation: Conversation, text: str, *, now: dt.datetime, meta: dict[str, Any] | None = None
) -> Message:
    """Add an activity to the conversation's timeline; the caller saves `last_seq`."""
    conversation.last_seq += 1
    return Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.ACTIVITY,
        body=text,
        status="",
        meta=meta or {},
        created_at=now,
    )
