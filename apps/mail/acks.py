"""Automatic acknowledgement of a new email conversation (per inbox, optional).

Only a person's first mail of a conversation is acknowledged: never automatic mail (the router
does not call this for it), null or daemon senders, lists or no-reply addresses. The loop brake
is a database constraint: each acknowledgement claims its conversation and its recipient
address for the current and the next clock hour, so two can never go out within an hour, even
to an autoresponder that opens a new conversation with every answer.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.bus.events import EventType
from apps.bus.services import outbox_enqueue
from apps.contacts.models import Identity
from apps.conversations.events import emit_message
from apps.conversations.models import Conversation, Message
from apps.mail.addresses import answers_nobody, one_line, subject_base
from apps.mail.models import AutoAckClaim, EmailInboxSettings

log = logging.getLogger(__name__)


def ack_claim_scopes(*, conversation_id: int, inbox_id: int, address: str) -> list[str]:
    return [f"conversation:{conversation_id}", f"address:{inbox_id}:{address}"]


def _claim(scopes: list[str]) -> bool:
    hour = int(timezone.now().timestamp()) // 3600
    try:
        with transaction.atomic():
            AutoAckClaim.objects.bulk_create([AutoAckClaim(scope=s, hour=h) for s in scopes for h in (hour, hour + 1)])
    except IntegrityError:
        return False
    return True


_UNREAD: Any = object()


def email_auto_ack(
    *,
    message: Message,
    inbox: Inbox,
    identity: Identity,
    mail: dict[str, Any],
    config: EmailInboxSettings | None = _UNREAD,
) -> Message | None:
    """Queue the inbox's acknowledgement of the customer's `message` (which opened its
    conversation), if the inbox wants one and the sender may get one. Inside the router's
    transaction. Returns the queued acknowledgement, or None. `config`: the inbox's
    EmailInboxSettings (None: it has none) when the caller read them already."""
    if config is _UNREAD:
        config = EmailInboxSettings.objects.filter(inbox=inbox).first()
    if config is None or not config.auto_ack_enabled or not config.auto_ack_text.strip():
        return None
    mail_from = (mail.get("envelope") or {}).get("mail_from")
    if mail_from is not None and not mail_from.strip():
        return None  # null return path (RFC 3834 §2): nobody to answer (None: not known, IMAP)
    if answers_nobody(identity.address):
        return None
    scopes = ack_claim_scopes(conversation_id=message.conversation_id, inbox_id=inbox.pk, address=identity.address)
    if not _claim(scopes):
        log.info("auto-acknowledgement to %s held back: one went out within the hour", identity.address)
        return None
    conversation: Conversation = message.conversation
    now = timezone.now()
    base = subject_base(mail.get("subject") or "")
    subject = one_line(config.auto_ack_subject, 200) or (f"Re: {base}" if base else "We received your message")
    conversation.last_seq += 1
    ack = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.MESSAGE,
        channel=Identity.Kind.EMAIL,
        identity=identity,
        body=config.auto_ack_text,
        status=Message.Status.QUEUED,
        meta={"email": {"auto_ack": True, "subject": subject}},
        created_at=max(now, message.created_at),
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=conversation.last_seq)
    emit_message(ack, EventType.MESSAGE_CREATED)
    outbox_enqueue(message_id=ack.pk, at=now)
    return ack
