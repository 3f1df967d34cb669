"""Inbound files into our own storage: bytes that came with a message, or media fetched later
from the provider."""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import os
import re
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.bus import registry
from apps.bus.events import EventType
from apps.conversations.events import emit_message
from apps.conversations.models import Attachment, Message
from apps.gateways.base import InboundAttachment, PermanentSendError

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str, content_type: str = "") -> str:
    """A file name fit for storage: no directories, no control or shell characters, bounded."""
    base = os.path.basename((name or "").replace("\\", "/")).strip().strip(".")
    base = _UNSAFE_NAME.sub("_", base)[:120].strip() or "file"
    if "." not in base:
        base += mimetypes.guess_extension(content_type or "") or ".bin"
    return base


def attachment_store(*, message: Message, item: InboundAttachment) -> Attachment:
    """Store a file that came with a message (its bytes in `item.data`).

    The gateway that parsed it has already applied its channel's size and type limits; a file
    it refused (`item.error`) is recorded with the reason, so the agent sees what was not kept.
    """
    content_type = (item.content_type or "application/octet-stream").lower()[:127]
    filename = safe_filename(item.filename, content_type)
    if item.error or item.data is None:
        return Attachment.objects.create(
            message=message,
            filename=filename,
            content_type=content_type,
            error=(item.error or "The file was not received.")[:300],
        )
    attachment = Attachment(message=message, filename=filename, content_type=content_type, size=len(item.data))
    attachment.file.save(filename, ContentFile(item.data), save=False)
    attachment.save()
    return attachment


def attachment_fetch(*, attachment_id: int) -> str:
    """Fetch one attachment once. Transient errors propagate (the task retries)."""
    attachment = Attachment.objects.select_related("message").get(pk=attachment_id)
    if attachment.file or attachment.error:
        return "done"
    try:
        content, content_type = registry.media_fetcher(attachment.message.channel)(attachment.source_url)
    except PermanentSendError as exc:
        with transaction.atomic():
            Attachment.objects.filter(pk=attachment_id).update(error=exc.message[:300])
            emit_message(attachment.message, EventType.MESSAGE_UPDATED)
        return "refused"
    extension = mimetypes.guess_extension(content_type) or ".bin"
    name = os.path.basename(attachment.source_url.rstrip("/")) or "media"
    filename = f"{name}{extension}"
    with transaction.atomic():
        locked = Attachment.objects.select_for_update(no_key=True).get(pk=attachment_id)
        if locked.file:
            return "done"
        locked.file.save(filename, ContentFile(content), save=False)
        locked.filename = filename
        locked.content_type = content_type
        locked.size = len(content)
        locked.save(update_fields=["file", "filename", "content_type", "size"])
        emit_message(attachment.message, EventType.MESSAGE_UPDATED)
    return "stored"


def attachments_fetch_later(attachment_ids: list[int]) -> None:
    """Queue the fetch of provider media (after commit); the sweep retries what gets lost."""
    from apps.conversations.tasks import attachment_fetch_task

    for attachment_id in attachment_ids:
        try:
            attachment_fetch_task.delay(attachment_id)
        except Exception:  # noqa: BLE001 - the broker is down: the sweep fetches it later
            log.exception("could not queue the fetch of attachment %s", attachment_id)


ATTACHMENT_GIVE_UP = dt.timedelta(days=1)


def attachments_sweep() -> int:
    """Fetch again media whose fetch was lost or hit a transient error; give up after a day."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.BUS_SWEEP_AFTER_SECONDS)
    pending = Attachment.objects.filter(file="", error="").exclude(source_url="")
    pending.filter(created_at__lt=now - ATTACHMENT_GIVE_UP).update(
        error="The media could not be fetched from the provider (gave up after a day)."
    )
    ids = list(pending.filter(created_at__lt=stale).order_by("id").values_list("id", flat=True)[:500])
    attachments_fetch_later(ids)
    return len(ids)


# --- files handed to providers as links ------------------------------------------------------

_LINK_SALT = "supportdesk.provider-file"


def attachment_link(attachment: Attachment) -> str:
    """A public, signed and expiring URL of a stored file, for a provider to fetch (Twilio's
    MediaUrl): `PUBLIC_BASE_URL/files/<signed token>/<name>`, good for MEDIA_LINK_SECONDS.

    The token names the attachment; the name is only there for the provider and the customer's
    phone (it is checked too, so a link cannot be bent to another name)."""
    token = signing.dumps(attachment.pk, salt=_LINK_SALT, compress=True)
    name = quote(attachment.filename or f"file-{attachment.pk}", safe="")
    return f"{settings.PUBLIC_BASE_URL}/files/{token}/{name}"


class LinkRefused(Exception):
    """A file link that is forged, bent, or expired."""


def attachment_for_link(*, token: str, name: str) -> Attachment:
    """The stored file a link points at; LinkRefused when the link is not one of ours (or has
    expired), Attachment.DoesNotExist when its file is gone."""
    try:
        pk = signing.loads(token, salt=_LINK_SALT, max_age=settings.MEDIA_LINK_SECONDS)
    except signing.SignatureExpired as exc:
        raise LinkRefused("this file link has expired") from exc
    except signing.BadSignature as exc:
        raise LinkRefused("this file link is not valid") from exc
    if not isinstance(pk, int):
        raise LinkRefused("this file link is not valid")
    attachment = Attachment.objects.exclude(file="").get(pk=pk)
    if name != (attachment.filename or f"file-{attachment.pk}"):
        raise LinkRefused("this file link is not valid")
    return attachment
