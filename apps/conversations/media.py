"""Copying inbound media from the provider into our own storage."""

from __future__ import annotations

import mimetypes
import os

from django.core.files.base import ContentFile
from django.db import transaction

from apps.bus.events import EventType
from apps.conversations.events import emit_message
from apps.conversations.models import Attachment
from apps.gateways.base import PermanentSendError
from apps.gateways.twilio.gateway import TwilioGateway


def attachment_fetch(*, attachment_id: int) -> str:
    """Fetch one attachment once. Transient errors propagate (the task retries)."""
    attachment = Attachment.objects.select_related("message").get(pk=attachment_id)
    if attachment.file or attachment.error:
        return "done"
    try:
        content, content_type = TwilioGateway().fetch_media(attachment.source_url)
    except PermanentSendError as exc:
        with transaction.atomic():
            Attachment.objects.filter(pk=attachment_id).update(error=exc.message[:300])
            emit_message(attachment.message, EventType.MESSAGE_UPDATED)
        return "refused"
    extension = mimetypes.guess_extension(content_type) or ".bin"
    name = os.path.basename(attachment.source_url.rstrip("/")) or "media"
    filename = f"{name}{extension}"
    with transaction.atomic():
        locked = Attachment.objects.select_for_update().get(pk=attachment_id)
        if locked.file:
            return "done"
        locked.file.save(filename, ContentFile(content), save=False)
        locked.filename = filename
        locked.content_type = content_type
        locked.size = len(content)
        locked.save(update_fields=["file", "filename", "content_type", "size"])
        emit_message(attachment.message, EventType.MESSAGE_UPDATED)
    return "stored"
