"""Changing a conversation: status, assignee, team, priority, labels, snoozing, read markers.
Each change is an entry in the timeline and an event for the consoles."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Agent, Team
from apps.assignment.services import _after_commit_drain
from apps.bus.events import EventType, event_append
from apps.conversations.events import emit_conversation, emit_message, notify_assigned
from apps.conversations.models import Conversation, Label, Message, ReadMarker
from apps.conversations.services.timeline import activity_add
from apps.core.errors import InvalidInput, NotFound


@transaction.atomic
def conversation_update(
    *,
    conversation_id: int,
    by: Agent | None,
    status: str | None = None,
    assignee_id: int | None | str = "unchanged",
    team_id: int | None | str = "unchanged",
    priority: int | None = None,
    snoozed_until: dt.datetime | None = None,
    labels: list[str] | None = None,
) -> Conversation:
    """Change status, assignee, team, priority or labels; each change is an entry in the timeline.

    `labels` is the full new set of label names (labels not seen before are created).
    """
    conversation = (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("assignee", "team")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("no such conversation")
    now = timezone.now()
    who = by.name if by else "The system"
    changes: list[str] = []
    notes: list[str] = []
    if status is not None and status != conversation.status:
        if status not in Conversation.Status.values:
            raise InvalidInput(f"unknown status {status!r}", code="invalid_status")
        if status == Conversation.Status.SNOOZED:
            if snoozed_until is None or snoozed_until <= now:
                raise InvalidInput("snoozing needs a time in the future", code="invalid_snooze")
            conversation.snoozed_until = snoozed_until
            notes.append(f"{who} snoozed this until {snoozed_until:%Y-%m-%d %H:%M} UTC")
        else:
            conversation.snoozed_until = None
            verb = {"resolved": "resolved", "open": "reopened", "pending": "marked this pending"}[status]
            notes.append(f"{who} {verb} this" if verb != "resolved" else f"{who} resolved this")
            if status == Conversation.Status.RESOLVED:
                conversation.waiting_since = None  # nobody is waiting on a resolved conversation
                conversation.resolved_at = now  # the reports' resolution time and backlog
            elif conversation.status == Conversation.Status.RESOLVED:
                conversation.resolved_at = None  # reopened: in the backlog again
        conversation.status = status
        changes.append("status")
    if assignee_id != "unchanged" and assignee_id != conversation.assignee_id:
        assignee = None
        if assignee_id is not None:
            assignee = Agent.objects.filter(pk=assignee_id, is_active=True, inboxes=conversation.inbox_id).first()
            if assignee is None:
                raise InvalidInput("that agent does not exist or is not in this inbox", code="invalid_assignee")
        conversation.assignee = assignee
        changes.append("assignee")
        if assignee is not None and conversation.noise:
            # Someone took it on: it is in their queue now, not in Noise (triage).
            conversation.noise = False
            conversation.triage_reason = f"Assigned by {who}"[:200]
            changes.append("triage")
        if assignee is None:
            notes.append(f"{who} unassigned this")
        elif by and assignee.pk == by.pk:
            notes.append(f"{who} took this")
        else:
            notes.append(f"{who} assigned this to {assignee.name}")
    if team_id != "unchanged" and team_id != conversation.team_id:
        team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
        if team_id is not None and team is None:
            raise InvalidInput("no such team", code="invalid_team")
        conversation.team = team
        changes.append("team")
        notes.append(f"{who} moved this to team {team.name}" if team else f"{who} removed the team")
    if priority is not None and priority != conversation.priority:
        if priority not in Conversation.Priority.values:
            raise InvalidInput(f"unknown priority {priority!r}", code="invalid_priority")
        conversation.priority = priority
        changes.append("priority")
        notes.append(f"{who} set priority to {Conversation.Priority(priority).label}")
    new_labels: list[str] | None = None
    if labels is not None:
        wanted = _label_names(labels)
        current = sorted(conversation.labels.values_list("name", flat=True))
        if wanted != current:
            added = [n for n in wanted if n not in current]
            removed = [n for n in current if n not in wanted]
            Label.objects.bulk_create([Label(name=n, color=_label_color(n)) for n in added], ignore_conflicts=True)
            conversation.labels.set(Label.objects.filter(name__in=wanted))
            if added:
                notes.append(f"{who} added label{'s' if len(added) > 1 else ''} {', '.join(added)}")
            if removed:
                notes.append(f"{who} removed label{'s' if len(removed) > 1 else ''} {', '.join(removed)}")
            changes.append("labels")
            new_labels = wanted
    if not changes:
        return conversation
    activities = [activity_add(conversation, text, now=now, meta={"by": by.pk if by else None}) for text in notes]
    conversation.save()
    emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes, labels=new_labels)
    for activity in activities:
        emit_message(activity)
    if "assignee" in changes:
        notify_assigned(conversation=conversation, by=by)
    if "status" in changes and conversation.status == Conversation.Status.RESOLVED:
        _after_commit_drain()  # capacity was freed
    return conversation


LABEL_MAX_CHARS = 50
LABEL_COLORS = ["#1f6feb", "#8250df", "#bf3989", "#cf222e", "#bc4c00", "#9a6700", "#1a7f37", "#0969da"]


def _label_names(labels: list[str]) -> list[str]:
    """Label names as stored: trimmed, single-spaced, lower-cased, unique, sorted."""
    names = set()
    for raw in labels:
        if not isinstance(raw, str):
            raise InvalidInput("labels must be a list of names", code="invalid_labels")
        name = " ".join(raw.split()).lower()
        if not name or len(name) > LABEL_MAX_CHARS:
            raise InvalidInput(f"a label name must be 1 to {LABEL_MAX_CHARS} characters", code="invalid_labels")
        names.add(name)
    return sorted(names)


def _label_color(name: str) -> str:
    return LABEL_COLORS[sum(name.encode()) % len(LABEL_COLORS)]


def conversations_wake_snoozed() -> int:
    """Snoozed conversations whose time has come are open again."""
    due = list(
        Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=timezone.now()).values_list(
            "id", flat=True
        )[:500]
    )
    for conversation_id in due:
        conversation_update(conversation_id=conversation_id, by=None, status=Conversation.Status.OPEN)
    return len(due)


def conversation_mark_read(*, agent_id: int, conversation_id: int, seq: int | None = None) -> int:
    """Mark read up to `seq` (default: everything). Never moves backwards.

    The marker keeps how many of the customer's messages it covers (read_inbound_count), so that
    unread counts are one subtraction from Conversation.inbound_count.
    """

    last_seq, inbound_count = Conversation.objects.values_list("last_seq", "inbound_count").get(pk=conversation_id)
    target = last_seq if seq is None else max(0, min(seq, last_seq))
    with transaction.atomic():
        marker, _ = ReadMarker.objects.select_for_update(no_key=True).get_or_create(
            agent_id=agent_id, conversation_id=conversation_id
        )
        if target > marker.last_read_seq:
            if target == last_seq:
                read_inbound = inbound_count
            else:
                read_inbound = Message.objects.filter(
                    conversation_id=conversation_id,
                    seq__lte=target,
                    direction=Message.Direction.INBOUND,
                    kind=Message.Kind.MESSAGE,
                ).count()
            marker.last_read_seq = target
            marker.read_inbound_count = read_inbound
            marker.save(update_fields=["last_read_seq", "read_inbound_count", "updated_at"])
            event_append(
                type=EventType.CONVERSATION_READ,
                conversation_id=conversation_id,
                agent_id=agent_id,
                data={"conversation": conversation_id, "seq": target},
            )
    return max(target, marker.last_read_seq)
