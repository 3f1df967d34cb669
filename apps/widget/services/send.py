"""A visitor sending a message (text and files), stored through the conversations' receive path."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_receive
from apps.core.filetypes import content_matches
from apps.core.locks import NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.gateways.base import InboundAttachment, InboundMessage
from apps.widget.models import Visitor
from apps.widget.services.common import CLIENT_ID_MAX, WidgetError, message_rate_check
from apps.widget.services.visibility import visitor_conversation_ids

log = logging.getLogger("apps.widget.services")

# --- sending ------------------------------------------------------------------------------


def _read_uploads(uploads: Sequence[UploadedFile]) -> list[InboundAttachment]:
    if len(uploads) > 5:
        raise WidgetError("too_many_files", "at most 5 files at once", 400)
    allowed = [t.lower() for t in settings.WIDGET_UPLOAD_TYPES]
    out = []
    for upload in uploads:
        name = upload.name or "file"
        if upload.size is not None and upload.size > settings.WIDGET_MAX_UPLOAD_BYTES:
            raise WidgetError(
                "too_large", f"{name} is {upload.size} bytes; the limit is {settings.WIDGET_MAX_UPLOAD_BYTES}", 413
            )
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if content_type not in allowed:
            raise WidgetError(
                "type_not_allowed", f"{name}: files of type {content_type or 'unknown'} cannot be sent", 415
            )
        data = upload.read(settings.WIDGET_MAX_UPLOAD_BYTES + 1)
        if len(data) > settings.WIDGET_MAX_UPLOAD_BYTES:
            raise WidgetError("too_large", f"{name} is over {settings.WIDGET_MAX_UPLOAD_BYTES} bytes", 413)
        if not data:
            raise WidgetError("empty", f"{name} is empty", 400)
        if not content_matches(content_type, data):
            raise WidgetError("type_not_allowed", f"{name} is not really {content_type}", 415)
        out.append(InboundAttachment(data=data, filename=name, content_type=content_type))
    return out


def visitor_message_send(
    *, visitor: Visitor, client_id: str, text: str, uploads: Sequence[UploadedFile] = ()
) -> tuple[Message, bool]:
    """Store a visitor's message once (durable before the caller acks). Returns (message, created).

    Idempotent by client_id: the provider id `widget:<public id>:<client id>` is unique per inbox,
    so a resend (a retry after a lost ack, the offline queue) returns the stored message.
    """
    if not isinstance(client_id, str) or not client_id or len(client_id) > CLIENT_ID_MAX:
        raise WidgetError("bad_request", f"client_id must be 1 to {CLIENT_ID_MAX} characters", 400)
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise WidgetError("bad_request", "text must be a string", 400)
    provider_id = f"widget:{visitor.public_id}:{client_id}"
    existing = Message.objects.filter(inbox_id=visitor.inbox_id, provider_id=provider_id).first()
    if existing is not None:
        return existing, False
    if len(text) > settings.WIDGET_MAX_TEXT:
        raise WidgetError(
            "too_long", f"the message is {len(text)} characters; the limit is {settings.WIDGET_MAX_TEXT}", 400
        )
    if not text.strip() and not uploads:
        raise WidgetError("empty", "the message is empty", 400)
    files = _read_uploads(uploads)
    message_rate_check(visitor)

    now = timezone.now()
    inbound = InboundMessage(
        channel=Identity.Kind.WIDGET,
        sender=visitor.public_id,
        sender_display=visitor.name or visitor.public_id,
        recipient=visitor.inbox.key,
        provider_message_id=provider_id,
        text=text,
        received_at=now,
        sender_name=visitor.name,
        attachments=tuple(files),
        meta={"widget": {"visitor": visitor.public_id, "verified": visitor.verified, "provider_id": provider_id}},
        inbox_id=visitor.inbox_id,
    )
    with transaction.atomic():
        xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_id)
        existing = Message.objects.filter(inbox_id=visitor.inbox_id, provider_id=provider_id).first()
        if existing is not None:
            return existing, False
        identity = Identity.objects.select_related("contact").get(pk=visitor.identity_id)
        ids = visitor_conversation_ids(visitor)
        conversation = (
            Conversation.objects.filter(pk__in=ids)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-last_activity_at")
            .first()
        )
        message, created = message_receive(
            inbox=visitor.inbox,
            inbound=inbound,
            received_at=now,
            conversation=conversation,
            new_conversation=conversation is None,
            identity=identity,
        )
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=now)
    return message, created
