"""Receiving a customer's message: stored once, threaded into their conversation, assigned,
and told to the consoles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.assignment.services import conversation_auto_assign
from apps.bus.events import EventType
from apps.bus.registry import Delivery
from apps.contacts.models import Contact, Identity
from apps.contacts.services import identity_resolve, identity_set_opt_out
from apps.conversations.events import emit_conversation, emit_message, message_preview, notify_assigned
from apps.conversations.media import attachment_store, attachments_fetch_later
from apps.conversations.models import Attachment, Conversation, Message
from apps.conversations.services.timeline import activity_add
from apps.gateways.base import InboundMessage


def inbox_for_inbound(channel: str, inbound: InboundMessage) -> Inbox | None:
    """The inbox a message was written to: the one the gateway named, or the one of the journal
    `channel` with the recipient's address (SMS and WhatsApp share the number's inbox)."""
    if inbound.inbox_id is not None:
        return Inbox.objects.filter(pk=inbound.inbox_id).first()
    return Inbox.objects.filter(channel=channel, address=inbound.recipient).order_by("id").first()


def messages_receive(deliveries: Sequence[Delivery]) -> None:
    """The bus receiver of channels threaded by address (SMS, WhatsApp, …): each message goes to
    the inbox it was written to and its sender's open conversation there."""
    for delivery in deliveries:
        inbox = inbox_for_inbound(delivery.entry.channel, delivery.inbound)
        if inbox is None:
            delivery.unroutable = f"no {delivery.entry.channel} inbox has the address {delivery.inbound.recipient!r}"
            return
        delivery.message, _ = message_receive(
            inbox=inbox, inbound=delivery.inbound, received_at=delivery.entry.received_at
        )


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
        extra.append(activity_add(conversation, text, now=now, meta={"opt_out": inbound.opt_out}))
    if reopened:
        extra.append(activity_add(conversation, "The customer wrote again: reopened", now=now, meta={"reopened": True}))

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
        transaction.on_commit(lambda: attachments_fetch_later(to_fetch))
    return message, True
