"""Receiving and sending messages, and changing conversations. Business rules live here."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Agent, Inbox
from apps.assignment.services import conversation_auto_assign
from apps.bus.events import EventType, event_append
from apps.bus.models import OutboxEntry, StatusReceipt
from apps.contacts.models import Contact, Identity
from apps.contacts.services import identity_resolve, identity_set_opt_out
from apps.conversations.events import (
    NotificationKind,
    emit_conversation,
    emit_message,
    emit_notifications,
    error_in_words,
    message_preview,
    notify_assigned,
)
from apps.conversations.models import Attachment, CannedResponse, Conversation, Label, Message
from apps.core.errors import Conflict, InvalidInput, NoReplyChannel, NotFound, RecipientOptedOut
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.gateways.base import DeliveryStatus, InboundAttachment, InboundMessage
from apps.gateways.registry import ATTACHMENT_KINDS, sendable_kinds

log = logging.getLogger(__name__)

# Forward-only delivery status: a callback may only move a message up this ladder.
STATUS_RANK = {
    Message.Status.RECEIVED: 0,
    Message.Status.QUEUED: 1,
    Message.Status.SENDING: 2,
    Message.Status.SENT: 3,
    Message.Status.DELIVERED: 4,
    Message.Status.UNDELIVERED: 4,
    Message.Status.FAILED: 4,
    Message.Status.READ: 5,
}


def _activity(
    conversation: Conversation, text: str, *, now: dt.datetime, meta: dict[str, Any] | None = None
) -> Message:
    """A timeline entry that records something that happened (never sent to anyone)."""
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


# --- inbound -----------------------------------------------------------------------------


def message_receive(
    *,
    inbox: Inbox,
    inbound: InboundMessage,
    received_at: dt.datetime | None = None,
    conversation: Conversation | None = None,
    new_conversation: bool = False,
    identity: Identity | None = None,
    automatic: bool = False,
) -> tuple[Message, bool]:
    """Store a customer's message once, in their conversation, and tell the consoles.

    Idempotent: a message already stored for (inbox, provider id) is returned as it is.
    Must run inside a transaction (the bus's).

    By default the message goes to the contact's newest conversation in the inbox that is not
    resolved (a new one if there is none), and the sender's identity is resolved as verified.
    Channels that thread by themselves (email) pass the `conversation` (it is reopened when
    resolved, unless the message is `automatic`) or ask for a `new_conversation`, and the
    `identity` they resolved. An `automatic` message (an out-of-office, a list mail) is stored
    and shown, but never reopens or wakes a conversation nor makes the customer wait.
    """
    existing = Message.objects.filter(inbox=inbox, provider_id=inbound.provider_message_id).first()
    if existing is not None:
        return existing, False
    now = received_at or timezone.now()
    if identity is None:
        identity = identity_resolve(
            kind=inbound.channel,
            address=inbound.sender,
            display=inbound.sender_display,
            verified=True,
            name=inbound.sender_name,
        )
    # One contact's messages are threaded one at a time, so two first messages from a new
    # customer cannot open two conversations.
    Contact.objects.select_for_update(no_key=True).filter(pk=identity.contact_id).first()
    if conversation is not None:
        if conversation.inbox_id != inbox.pk:
            raise ValueError("a message threaded into a conversation is stored in that conversation's inbox")
        conversation = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
    elif not new_conversation:
        conversation = (
            Conversation.objects.select_for_update(no_key=True)
            .filter(contact_id=identity.contact_id, inbox=inbox)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-last_activity_at")
            .first()
        )
    created = conversation is None
    changes: list[str] = []
    reopened = False
    if conversation is None:
        conversation = Conversation.objects.create(
            inbox=inbox,
            contact_id=identity.contact_id,
            team_id=inbox.team_id,
            status=Conversation.Status.OPEN,
            last_activity_at=now,
            waiting_since=now,
            last_identity=identity,
        )
    elif automatic:
        pass  # an automatic reply leaves the status alone
    elif conversation.status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        changes.append("status")
    elif conversation.status == Conversation.Status.RESOLVED:  # only when the caller chose it
        conversation.status = Conversation.Status.OPEN
        reopened = True
        changes.append("status")
    conversation.inbox = inbox  # already loaded: spares assignment a query

    conversation.last_seq += 1
    meta: dict[str, Any] = dict(inbound.meta)
    if inbound.attachments:
        meta["attachments"] = len(inbound.attachments)
    if inbound.opt_out:
        meta["keyword"] = inbound.opt_out
    message = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox=inbox,
        direction=Message.Direction.INBOUND,
        kind=Message.Kind.MESSAGE,
        channel=inbound.channel,
        identity=identity,
        body=inbound.text,
        provider_id=inbound.provider_message_id,
        status=Message.Status.RECEIVED,
        meta=meta,
        created_at=now,
    )
    to_fetch: list[int] = []
    if inbound.attachments:
        from apps.conversations.media import attachment_store

        # Bytes that came with the message are stored now; provider URLs are fetched after commit.
        for item in inbound.attachments:
            if item.data is not None or item.error or not item.url:
                attachment_store(message=message, item=item)
        remote = [a for a in inbound.attachments if a.data is None and a.url and not a.error]
        if remote:
            Attachment.objects.bulk_create(
                [Attachment(message=message, source_url=a.url, content_type=a.content_type) for a in remote]
            )
            to_fetch = list(message.attachments.filter(file="").exclude(source_url="").values_list("id", flat=True))
    extra: list[Message] = []
    if inbound.opt_out in ("stop", "start") and identity_set_opt_out(
        identity=identity, opted_out=inbound.opt_out == "stop"
    ):
        text = (
            f"The customer opted out ({inbound.text.strip().upper()}): nothing more can be sent to {identity.address} until they text START."
            if inbound.opt_out == "stop"
            else f"The customer opted back in ({inbound.text.strip().upper()}): {identity.address} can receive messages again."
        )
        extra.append(_activity(conversation, text, now=now, meta={"opt_out": inbound.opt_out}))
    if reopened:
        extra.append(_activity(conversation, "The customer wrote again: reopened", now=now, meta={"reopened": True}))

    conversation.last_activity_at = now
    if identity.contact_id == conversation.contact_id:  # not a colleague writing in through a reply token
        conversation.last_identity = identity
    conversation.last_message = message_preview(message)
    if conversation.waiting_since is None and not automatic:
        conversation.waiting_since = now
    conversation.save(
        update_fields=[
            "status",
            "snoozed_until",
            "last_seq",
            "last_activity_at",
            "last_identity",
            "waiting_since",
            "last_message",
        ]
    )

    auto_assigned = conversation.assignee_id is None and conversation_auto_assign(conversation=conversation, emit=False)
    if auto_assigned:
        changes.append("assignee")
    # Events last: they take the event-order lock, held until commit.
    if created:
        emit_conversation(conversation, EventType.CONVERSATION_CREATED)
    elif changes:
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes)
    emit_message(message)
    for activity in extra:
        emit_message(activity)
    if auto_assigned:  # after the message, so that the notification can point at it
        notify_assigned(conversation=conversation)
    if to_fetch:
        from apps.bus.tasks import fetch_attachment

        transaction.on_commit(lambda: [fetch_attachment.delay(i) for i in to_fetch])
    return message, True


# --- outbound ----------------------------------------------------------------------------


def _reply_identity(conversation: Conversation, identity_id: int | None) -> Identity:
    if identity_id is not None:
        identity = Identity.objects.filter(pk=identity_id, contact_id=conversation.contact_id).first()
        if identity is None:
            raise InvalidInput("that identity does not belong to this conversation's contact", code="invalid_identity")
    else:
        identity = conversation.last_identity
        if identity is None or identity.contact_id != conversation.contact_id:
            identity = (
                Identity.objects.filter(contact_id=conversation.contact_id, kind__in=sendable_kinds())
                .order_by("-created_at")
                .first()
            )
    if identity is None or identity.kind not in sendable_kinds():
        raise NoReplyChannel("the contact has no address a reply can be sent to")
    if identity.opted_out:
        raise RecipientOptedOut(
            f"{identity.address} has opted out (texted STOP); nothing can be sent until they text START"
        )
    return identity


@dataclass(frozen=True)
class FileUpload:
    """A file an agent attached to a reply or a note."""

    filename: str
    content_type: str
    data: bytes


MAX_ATTACHMENTS = 10


def _check_uploads(attachments: Sequence[FileUpload]) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} files can be attached", code="too_many_attachments")
    for item in attachments:
        if not item.data:
            raise InvalidInput(f"{item.filename or 'a file'} is empty", code="empty_attachment")
    total = sum(len(item.data) for item in attachments)
    if total > settings.AGENT_ATTACHMENTS_MAX_BYTES:
        raise InvalidInput(
            f"the files are {total} bytes together; the limit is {settings.AGENT_ATTACHMENTS_MAX_BYTES} bytes",
            code="attachments_too_large",
        )


def message_send(
    *,
    conversation_id: int,
    agent: Agent,
    body: str,
    client_id: str | None = None,
    identity_id: int | None = None,
    kind: str = Message.Kind.MESSAGE,
    attachments: Sequence[FileUpload] = (),
) -> tuple[Message, bool]:
    """Queue an agent's reply (or note). Idempotent on client_id: a resend returns the first.

    Returns (message, created). The send itself happens in a task after commit. Files go out
    only on channels that can carry them (email); elsewhere the reply is refused as a whole.
    """
    if kind not in (Message.Kind.MESSAGE, Message.Kind.NOTE):
        raise InvalidInput(f"unknown message kind {kind!r}", code="invalid_kind")
    _check_uploads(attachments)
    if (not body or not body.strip()) and not attachments:
        raise InvalidInput("the message is empty", code="empty_message")
    if len(body) > settings.MESSAGE_MAX_CHARS:
        raise InvalidInput(
            f"the message is {len(body)} characters; the limit is {settings.MESSAGE_MAX_CHARS}", code="too_long"
        )
    if client_id is not None and (not client_id or len(client_id) > 64):
        raise InvalidInput("client_id must be 1 to 64 characters", code="invalid_client_id")
    try:
        with transaction.atomic():
            return _message_send(conversation_id, agent, body, client_id, identity_id, kind, attachments)
    except IntegrityError:
        # A concurrent resend with the same client id won the race: return its message.
        existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
        if client_id and existing:
            return existing, False
        raise


def _message_send(
    conversation_id: int,
    agent: Agent,
    body: str,
    client_id: str | None,
    identity_id: int | None,
    kind: str,
    attachments: Sequence[FileUpload] = (),
) -> tuple[Message, bool]:
    conversation = (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("inbox", "last_identity")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("no such conversation")
    if client_id:
        existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
        if existing is not None:
            return existing, False
    now = timezone.now()
    identity = _reply_identity(conversation, identity_id) if kind == Message.Kind.MESSAGE else None
    if attachments and identity is not None and identity.kind not in ATTACHMENT_KINDS:
        raise InvalidInput(
            f"a reply on {identity.get_kind_display()} cannot carry attachments; "
            "remove the files or reply on a channel that can (email)",
            code="attachments_not_supported",
        )
    conversation.last_seq += 1
    message = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox=conversation.inbox,
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        channel=identity.kind if identity else "",
        identity=identity,
        sender=agent,
        body=body,
        client_id=client_id,
        status=Message.Status.QUEUED if identity else "",
        meta={"attachments": len(attachments)} if attachments else {},
        created_at=now,
    )
    if attachments:
        from apps.conversations.media import attachment_store

        for item in attachments:
            attachment_store(
                message=message,
                item=InboundAttachment(data=item.data, filename=item.filename, content_type=item.content_type),
            )
    changes: list[str] = []
    conversation.last_message = message_preview(message)
    fields = ["last_seq", "last_message"]
    if kind == Message.Kind.MESSAGE:
        OutboxEntry.objects.create(message=message, next_attempt_at=now)
        conversation.waiting_since = None
        conversation.last_activity_at = now
        fields += ["waiting_since", "last_activity_at"]
        if conversation.assignee_id is None:
            conversation.assignee = agent  # the first agent to answer takes the conversation
            fields.append("assignee")
            changes.append("assignee")
    conversation.save(update_fields=fields)
    if changes:
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes)
    emit_message(message)
    if kind == Message.Kind.NOTE:
        mentioned = _mentioned_agent_ids(conversation, body, author=agent)
        emit_notifications(
            conversation=conversation,
            agent_ids=mentioned,
            kind=NotificationKind.MENTION,
            by=agent,
            message=message,
            excerpt=body,
        )
    if kind == Message.Kind.MESSAGE:
        from apps.bus.tasks import deliver_message

        transaction.on_commit(lambda: deliver_message.delay(message.pk))
    return message, True


# `@username` (Django usernames may hold letters, digits and @ . + - _), not inside an email address.
MENTION_RE = re.compile(r"(?<![\w.@+-])@([\w.@+-]+)")
MAX_MENTIONS = 20


def _mentioned_agent_ids(conversation: Conversation, body: str, *, author: Agent) -> list[int]:
    """Active agents of the conversation's inbox named with @username in the text (not the author)."""
    names = {m.group(1).rstrip(".").lower() for m in MENTION_RE.finditer(body)} - {""}
    if not names:
        return []
    match = Q()
    for name in sorted(names)[:MAX_MENTIONS]:
        match |= Q(username__iexact=name)
    return list(
        Agent.objects.filter(match, is_active=True, inboxes=conversation.inbox_id)
        .exclude(pk=author.pk)
        .order_by("id")
        .values_list("id", flat=True)
        .distinct()
    )


def _advance(message: Message, status: str, error_code: str = "", error_text: str = "") -> bool:
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(message.status, -1):  # type: ignore[call-overload]
        return False
    message.status = status
    if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
        message.error_code = error_code
        message.error_message = error_in_words(error_code, error_text)[:500]
    return True


def _opt_out_from_error(message: Message, code: str) -> None:
    if code == "21610" and message.identity_id:
        identity = Identity.objects.get(pk=message.identity_id)
        identity_set_opt_out(identity=identity, opted_out=True)


@transaction.atomic
def message_mark_sent(*, message_id: int, provider_id: str, status: str) -> Message:
    """The provider accepted the send: record its id, then any callbacks that raced ahead."""
    # Serialised with message_status_apply on the provider id: a callback committed before
    # this is read below; one that comes after finds the message by its provider id.
    xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_id)
    message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
    message.provider_id = provider_id
    _advance(message, status)
    for receipt in StatusReceipt.objects.filter(provider_message_id=provider_id, applied=False).order_by("id"):
        _advance(message, receipt.status, receipt.error_code, receipt.payload.get("_error_message", ""))
        receipt.applied = True
        receipt.save(update_fields=["applied"])
    message.save(update_fields=["provider_id", "status", "error_code", "error_message", "updated_at"])
    OutboxEntry.objects.filter(message_id=message_id).update(state=OutboxEntry.State.DONE, lease_until=None)
    emit_message(message, EventType.MESSAGE_UPDATED)
    return message


@transaction.atomic
def message_send_failed(*, message_id: int, code: str, text: str) -> Message:
    """The provider refused for good (or we gave up): show it, never retry."""
    message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
    message.status = Message.Status.FAILED
    message.error_code = code
    message.error_message = error_in_words(code, text)[:500]
    message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    OutboxEntry.objects.filter(message_id=message_id).update(
        state=OutboxEntry.State.FAILED, last_error=f"{code}: {text}"[:2000], lease_until=None
    )
    _opt_out_from_error(message, code)
    emit_message(message, EventType.MESSAGE_UPDATED)
    return message


def message_status_apply(*, source: str, status: DeliveryStatus, payload: dict[str, Any] | None = None) -> bool:
    """Record a delivery-status callback, then apply it. Out-of-order and repeated callbacks are safe.

    The receipt is committed on its own first (one row per status): it is the journal, so an
    error while applying loses nothing — the sweeper applies what is left. A callback for a
    message whose send has not been recorded yet waits there and is applied by
    `message_mark_sent`. Returns True when the message's visible status changed.
    """
    record = dict(payload or {})
    record["_error_message"] = status.error_message
    try:
        with transaction.atomic():
            StatusReceipt.objects.create(
                source=source,
                provider_message_id=status.provider_message_id,
                status=status.status,
                error_code=status.error_code,
                payload=record,
            )
    except IntegrityError:
        return False  # the same status for the same message again
    try:
        return status_receipts_apply(provider_message_id=status.provider_message_id)
    except Exception:  # noqa: BLE001 - the receipt is kept; the sweeper applies it
        log.exception(
            "applying status %s of %s failed; left for the sweeper", status.status, status.provider_message_id
        )
        return False


@transaction.atomic
def status_receipts_apply(*, provider_message_id: str) -> bool:
    """Apply every receipt not applied yet to the message with this provider id, in order."""
    xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_message_id)  # see message_mark_sent
    message = Message.objects.select_for_update(no_key=True).filter(provider_id=provider_message_id).first()
    if message is None:
        return False
    changed = False
    receipts = StatusReceipt.objects.select_for_update(no_key=True).filter(
        provider_message_id=provider_message_id, applied=False
    )
    for receipt in receipts.order_by("id"):
        if _advance(message, receipt.status, receipt.error_code, receipt.payload.get("_error_message", "")):
            changed = True
            if receipt.status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
                _opt_out_from_error(message, receipt.error_code)
        receipt.applied = True
        receipt.save(update_fields=["applied"])
    if changed:
        message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
        emit_message(message, EventType.MESSAGE_UPDATED)
    return changed


# --- conversation changes ----------------------------------------------------------------


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
        if assignee is None:
            notes.append(f"{who} unassigned this")
        elif by and assignee.pk == by.pk:
            notes.append(f"{who} took this")
        else:
            notes.append(f"{who} assigned this to {assignee.name}")
    if team_id != "unchanged" and team_id != conversation.team_id:
        from apps.accounts.models import Team

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
    activities = [_activity(conversation, text, now=now, meta={"by": by.pk if by else None}) for text in notes]
    conversation.save()
    emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes, labels=new_labels)
    for activity in activities:
        emit_message(activity)
    if "assignee" in changes:
        notify_assigned(conversation=conversation, by=by)
    if "status" in changes and conversation.status == Conversation.Status.RESOLVED:
        from apps.assignment.services import _after_commit_drain

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
    """Mark read up to `seq` (default: everything). Never moves backwards."""
    from apps.conversations.models import ReadMarker

    last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
    target = last_seq if seq is None else max(0, min(seq, last_seq))
    with transaction.atomic():
        marker, _ = ReadMarker.objects.select_for_update(no_key=True).get_or_create(
            agent_id=agent_id, conversation_id=conversation_id
        )
        if target > marker.last_read_seq:
            marker.last_read_seq = target
            marker.save(update_fields=["last_read_seq", "updated_at"])
            event_append(
                type=EventType.CONVERSATION_READ,
                conversation_id=conversation_id,
                agent_id=agent_id,
                data={"conversation": conversation_id, "seq": target},
            )
    return max(target, marker.last_read_seq)


# --- canned responses --------------------------------------------------------------------

CANNED_SHORTCUT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def _canned_validate(*, shortcut: str, title: str, text: str) -> tuple[str, str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not CANNED_SHORTCUT_RE.match(shortcut):
        raise InvalidInput(
            "a shortcut is 1 to 50 lower-case letters, digits, - or _, starting with a letter or digit",
            code="invalid_shortcut",
        )
    title = title.strip()
    if not title or len(title) > 120:
        raise InvalidInput("a title is 1 to 120 characters", code="invalid_title")
    if not text.strip() or len(text) > settings.MESSAGE_MAX_CHARS:
        raise InvalidInput(f"the text must be 1 to {settings.MESSAGE_MAX_CHARS} characters", code="invalid_text")
    return shortcut, title, text


def _canned_save(canned: CannedResponse) -> CannedResponse:
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise Conflict(f"the shortcut /{canned.shortcut} is already used", code="shortcut_taken") from None
    return canned


def canned_response_create(*, by: Agent, shortcut: str, title: str, text: str) -> CannedResponse:
    shortcut, title, text = _canned_validate(shortcut=shortcut, title=title, text=text)
    return _canned_save(CannedResponse(shortcut=shortcut, title=title, text=text, created_by=by))


def canned_response_update(
    *, canned_id: int, shortcut: str | None = None, title: str | None = None, text: str | None = None
) -> CannedResponse:
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise NotFound("no such canned response")
    canned.shortcut, canned.title, canned.text = _canned_validate(
        shortcut=canned.shortcut if shortcut is None else shortcut,
        title=canned.title if title is None else title,
        text=canned.text if text is None else text,
    )
    return _canned_save(canned)


def canned_response_delete(*, canned_id: int) -> None:
    deleted, _ = CannedResponse.objects.filter(pk=canned_id).delete()
    if not deleted:
        raise NotFound("no such canned response")
