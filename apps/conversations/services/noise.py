"""An agent's triage click: this conversation (its customer message) is actionable, or not.

The click is the verdict of the message (shown with who made it), a label the triage model
learns from, and the conversation's place: actionable conversations wait in the queues and are
auto-assigned; noise leaves them (unassigned, nobody waiting) for the Noise view.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Agent
from apps.assignment.services import conversation_auto_assign
from apps.bus.events import EventType
from apps.conversations.events import emit_conversation, emit_message, notify_assigned
from apps.conversations.models import Conversation, Message
from apps.conversations.services.dispatch import Routed, conversation_route_on_receive
from apps.conversations.services.timeline import activity_add
from apps.core.errors import InvalidInput, NotFound
from apps.triage.services import agent_verdict, label_record


@transaction.atomic
def conversation_triage_set(
    *, conversation_id: int, actionable: bool, by: Agent, message_id: int | None = None
) -> tuple[Conversation, Message]:
    """Mark the conversation actionable or not, by the customer message `message_id` (default:
    their newest message). Returns the conversation and the message labelled."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("inbox")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("no such conversation")
    inbound = Message.objects.filter(
        conversation=conversation, direction=Message.Direction.INBOUND, kind=Message.Kind.MESSAGE
    )
    message = (inbound.filter(pk=message_id) if message_id else inbound.order_by("-seq")).first()
    if message is None:
        raise InvalidInput(
            "the message is not a customer message of this conversation" if message_id else "nothing to triage",
            code="invalid_message",
        )
    now = timezone.now()
    verdict = agent_verdict(actionable=actionable, by_name=by.name)
    message.meta = {**message.meta, "triage": {**verdict.data(), "by": by.pk, "at": now.isoformat()}}
    message.save(update_fields=["meta", "updated_at"])
    label_record(message=message, actionable=actionable, by=by)

    changes: list[str] = []
    extra: list[Message] = []
    fields: list[str] = ["triage_reason"]
    was_noise = conversation.noise
    conversation.triage_reason = verdict.reason[:200]
    if was_noise == (not actionable):
        pass  # the conversation already is where the click puts it; the message's verdict changed
    elif actionable:
        conversation.noise = False
        preview: dict[str, Any] = conversation.last_message or {}
        if conversation.waiting_since is None and preview.get("direction") == Message.Direction.INBOUND:
            conversation.waiting_since = message.created_at  # the customer has waited since then
        fields += ["noise", "waiting_since"]
        changes.append("triage")
        extra.append(
            activity_add(conversation, f"{by.name} marked this actionable", now=now, meta={"triage": "actionable"})
        )
    else:
        conversation.noise = True
        conversation.waiting_since = None
        fields += ["noise", "waiting_since"]
        changes.append("triage")
        if conversation.assignee_id is not None:
            conversation.assignee = None
            fields.append("assignee")
            changes.append("assignee")
        extra.append(
            activity_add(
                conversation, f"{by.name} marked this not actionable (noise)", now=now, meta={"triage": "noise"}
            )
        )
    routed = Routed()
    if actionable and was_noise and conversation.assignee_id is None and message.identity is not None:
        # Out of Noise and into a queue: routed as a new conversation would have been.
        routed = conversation_route_on_receive(
            conversation=conversation, message=message, identity=message.identity, created=False, now=now
        )
        changes += routed.changes
        extra += routed.activities
        fields += ["team", "priority"]
    if extra:
        fields.append("last_seq")
    conversation.save(update_fields=fields)
    assigned = False
    if (
        actionable
        and was_noise
        and conversation_auto_assign(conversation=conversation, emit=False, skills=routed.skills)
    ):
        assigned = True
        changes.append("assignee")
    emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes or ["triage"])
    emit_message(message, EventType.MESSAGE_UPDATED)
    for activity in extra:
        emit_message(activity)
    if assigned:
        notify_assigned(conversation=conversation)
    return conversation, message
