"""Sending: an agent's reply (or private note) is stored and queued in the bus's outbox, once
per client id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from apps.accounts.models import Agent
from apps.bus import registry
from apps.bus.events import EventType
from apps.bus.services import outbox_enqueue
from apps.contacts.models import Identity
from apps.conversations.events import (
    NotificationKind,
    emit_conversation,
    emit_message,
    emit_notifications,
    message_preview,
)
from apps.conversations.media import attachment_store
from apps.conversations.models import Conversation, Message
from apps.core.errors import InvalidInput, NoReplyChannel, NotFound, RecipientOptedOut
from apps.core.filetypes import content_matches
from apps.gateways.base import InboundAttachment


def _reply_identity(conversation: Conversation, identity_id: int | None) -> Identity:
    if identity_id is not None:
        identity = Identity.objects.filter(pk=identity_id, contact_id=conversation.contact_id).first()
        if identity is None:
            raise InvalidInput("that identity does not belong to this conversation's contact", code="invalid_identity")
    else:
        identity = conversation.last_identity
        if identity is None or identity.contact_id != conversation.contact_id:
            identity = (
                Identity.objects.filter(contact_id=conversation.contact_id, kind__in=registry.sendable_kinds())
                .order_by("-created_at")
                .first()
            )
    if identity is None or identity.kind not in registry.sendable_kinds():
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


def _check_channel_files(identity: Identity, attachments: Sequence[FileUpload]) -> None:
    """The files fit the channel the reply goes out on (its limits, declared when it was
    registered), and are what they claim to be: refused before anything is queued."""
    if identity.kind not in registry.attachment_kinds():
        raise InvalidInput(
            f"a reply on {identity.get_kind_display()} cannot carry attachments; "
            "remove the files or reply on a channel that can",
            code="attachments_not_supported",
        )
    limits = registry.file_limits(identity.kind)
    if limits is None:
        return
    for item in attachments:
        if not content_matches(item.content_type, item.data):
            raise InvalidInput(
                f"{item.filename or 'a file'} is not really {item.content_type}", code="attachment_not_allowed"
            )
    refusal = limits.refusal([(item.filename or "a file", item.content_type, len(item.data)) for item in attachments])
    if refusal:
        raise InvalidInput(refusal, code="attachment_not_allowed")


def message_send(
    *,
    conversation_id: int,
    agent: Agent,
    body: str,
    client_id: str | None = None,
    identity_id: int | None = None,
    kind: str = Message.Kind.MESSAGE,
    attachments: Sequence[FileUpload] = (),
    template: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    take: bool = True,
) -> tuple[Message, bool]:
    """Queue an agent's reply (or note). Idempotent on client_id: a resend returns the first.

    Returns (message, created). The send itself happens in a task after commit. Files go out
    only on channels that can carry them, within that channel's limits; the channel's own rule
    (WhatsApp's 24-hour window) is checked too. A refused reply is refused as a whole, before
    anything is written. `template` ({"sid", "variables"}) sends a channel's approved template
    instead of free text (WhatsApp); its rendered text becomes the message's body. `options`
    are the channel's own reply choices, handed to its reply check (Mastodon: `visibility`,
    public or private). `take=False`
    (a status broadcast) leaves an unassigned conversation unassigned.
    """
    if kind not in (Message.Kind.MESSAGE, Message.Kind.NOTE):
        raise InvalidInput(f"unknown message kind {kind!r}", code="invalid_kind")
    if template is not None and kind != Message.Kind.MESSAGE:
        raise InvalidInput("a note cannot be a template", code="invalid_template")
    _check_uploads(attachments)
    if (not body or not body.strip()) and not attachments and template is None:
        raise InvalidInput("the message is empty", code="empty_message")
    if len(body) > settings.MESSAGE_MAX_CHARS:
        raise InvalidInput(
            f"the message is {len(body)} characters; the limit is {settings.MESSAGE_MAX_CHARS}", code="too_long"
        )
    if client_id is not None and (not client_id or len(client_id) > 64):
        raise InvalidInput("client_id must be 1 to 64 characters", code="invalid_client_id")
    try:
        with transaction.atomic():
            message, created = _message_send(
                conversation_id, agent, body, client_id, identity_id, kind, attachments, template, options, take
            )
            # Its attachments read here, before the commit: the caller's answer is then written
            # without the database, so a reply that committed is not answered 500 when the
            # database goes away right after (the chaos run's PostgreSQL restarts).
            prefetch_related_objects([message], "attachments")
            return message, created
    except IntegrityError:
        # A concurrent resend with the same client id won the race: return its message.
        existing = (
            Message.objects.filter(conversation_id=conversation_id, client_id=client_id)
            .prefetch_related("attachments")
            .first()
        )
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
    template: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    take: bool = True,
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
    meta: dict[str, Any] = {"attachments": len(attachments)} if attachments else {}
    if identity is not None:
        if attachments:
            _check_channel_files(identity, attachments)
        check = registry.reply_check(identity.kind)
        if check is not None:
            plan = check(
                identity=identity,
                inbox_id=conversation.inbox_id,
                body=body,
                template=template,
                files=len(attachments),
                options=options or {},
                conversation_id=conversation.pk,
            )
            body = plan.body
            meta.update(plan.meta)
        elif template is not None:
            raise InvalidInput(
                f"a reply on {identity.get_kind_display()} cannot be a template", code="templates_not_supported"
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
        meta=meta,
        created_at=now,
    )
    if attachments:
        for item in attachments:
            attachment_store(
                message=message,
                item=InboundAttachment(data=item.data, filename=item.filename, content_type=item.content_type),
            )
    changes: list[str] = []
    conversation.last_message = message_preview(message)
    fields = ["last_seq", "last_message"]
    if kind == Message.Kind.MESSAGE:
        if conversation.first_response_at is None and conversation.waiting_since is not None:
            # The reports' first-response time: how long the customer waited for this answer.
            conversation.first_response_at = now
            conversation.first_response_seconds = max(0, int((now - conversation.waiting_since).total_seconds()))
            fields += ["first_response_at", "first_response_seconds"]
        conversation.waiting_since = None
        conversation.last_activity_at = now
        fields += ["waiting_since", "last_activity_at"]
        if conversation.assignee_id is None and take:
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
        outbox_enqueue(message_id=message.pk, at=now)
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
