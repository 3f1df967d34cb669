"""Routing in the receive path (apps.dispatch decides; this module writes the conversation's
rows): a new (or reopened) conversation is routed right before auto-assignment, the decision is
recorded in its timeline, and a customer left waiting on SMS, Telegram or XMPP is told once
where they stand (an automatic reply through the outbox; the widget shows it live instead)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from apps.bus.services import outbox_enqueue
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.conversations.services.timeline import activity_add
from apps.dispatch.config import routing_config
from apps.dispatch.queue import queue_reply_text, queue_status
from apps.dispatch.rules import conversation_route

# Identity kinds told their place by an automatic reply (SMS is "phone").
QUEUE_REPLY_KINDS = frozenset({Identity.Kind.PHONE, Identity.Kind.TELEGRAM, Identity.Kind.XMPP})
QUEUE_REPLY_CLIENT_ID = "routing:queue-position"  # unique per conversation: the reply is sent once


@dataclass
class Routed:
    skills: frozenset[int] | None = None  # None: not routed now (assignment reads them if needed)
    changes: list[str] = field(default_factory=list)
    activities: list[Message] = field(default_factory=list)


def conversation_route_on_receive(
    *, conversation: Conversation, message: Message, identity: Identity, created: bool, now: dt.datetime
) -> Routed:
    """Route the conversation (team, priority, required skills) when it is new or reopened and
    nobody has it; the decision becomes a timeline activity. The caller saves the conversation
    (team and priority are among the fields receiving writes) and publishes the changes."""
    routed = Routed()
    if conversation.assignee_id is not None:
        return routed
    team_before, priority_before = conversation.team_id, conversation.priority
    decision = conversation_route(
        conversation=conversation,
        text=message.body,
        channel=message.channel,
        meta=message.meta,
        verified=identity.verified,
        created=created,
        now=now,
    )
    if decision is None:
        return routed
    routed.skills = frozenset(decision.skill_ids)
    if conversation.team_id != team_before:
        routed.changes.append("team")
    if conversation.priority != priority_before:
        routed.changes.append("priority")
    routed.activities.append(
        activity_add(
            conversation,
            decision.summary(),
            now=now,
            meta={
                "routing": {
                    "rule": decision.rule.id if decision.rule else None,
                    "team": conversation.team_id,
                    "priority": decision.priority,
                    "skills": list(decision.skill_ids),
                    "language": decision.language,
                }
            },
        )
    )
    return routed


def queue_key(conversation: Conversation, routed: Routed) -> tuple[int, int | None, frozenset[int] | None]:
    """The queue a conversation waits in, for the batch's "nobody has room here" shortcut."""
    return (conversation.inbox_id, conversation.team_id or conversation.inbox.team_id, routed.skills)


def queue_reply_maybe(
    *, conversation: Conversation, identity: Identity, created: bool, now: dt.datetime
) -> Message | None:
    """A new conversation nobody could take, on SMS, Telegram or XMPP, in an inbox whose queue
    reply is on: the customer is sent their place and the expected wait, once (the conversation
    is new; the client id is unique per conversation). Queued in the outbox in the caller's
    transaction, so it leaves exactly when the customer's message is stored."""
    if not created or conversation.assignee_id is not None or conversation.status != Conversation.Status.OPEN:
        return None
    template = routing_config().queue_reply.get(conversation.inbox_id)
    if template is None or identity.kind not in QUEUE_REPLY_KINDS or identity.opted_out:
        return None
    status = queue_status(conversation, now=now)
    if not status.waiting:
        return None
    conversation.last_seq += 1
    reply = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.MESSAGE,
        channel=identity.kind,
        identity=identity,
        body=queue_reply_text(template, status),
        client_id=QUEUE_REPLY_CLIENT_ID,
        status=Message.Status.QUEUED,
        meta={
            "automatic": "queue_position",
            "position": status.position,
            "expected_wait_seconds": status.expected_wait_seconds,
        },
        created_at=now,
    )
    outbox_enqueue(message_id=reply.pk, at=now)
    return reply


__all__ = ["Routed", "conversation_route_on_receive", "queue_key", "queue_reply_maybe"]
