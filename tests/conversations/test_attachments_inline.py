"""Files that arrive with a message (email parts, widget uploads) are stored with it at once."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.conversations.media import safe_filename
from apps.conversations.models import Attachment
from apps.conversations.services import message_receive
from apps.gateways.base import InboundAttachment, InboundMessage


def _inbound(*attachments: InboundAttachment) -> InboundMessage:
    return InboundMessage(
        channel="phone",
        sender="+14155552671",
        sender_display="+14155552671",
        recipient="+15005550006",
        provider_message_id="inline-1",
        text="see attached",
        received_at=timezone.now(),
        attachments=attachments,
    )


def test_attachment_bytes_are_stored_with_the_message_and_refused_ones_recorded(
    sms_inbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        message, created = message_receive(
            inbox=sms_inbox,
            inbound=_inbound(
                InboundAttachment(
                    data=b"%PDF-1.4 hello", filename="../../etc/passwd invoice.pdf", content_type="application/pdf"
                ),
                InboundAttachment(filename="huge.zip", content_type="application/zip", error="The file is over 25 MB."),
            ),
        )
    assert created
    stored, refused = Attachment.objects.filter(message=message).order_by("id")
    assert stored.filename == "passwd invoice.pdf"
    assert stored.size == 14 and stored.content_type == "application/pdf"
    assert stored.file.read() == b"%PDF-1.4 hello"
    assert not stored.source_url and not stored.error
    assert refused.filename == "huge.zip" and not refused.file and refused.error == "The file is over 25 MB."
    # Nothing to fetch from a provider: nothing was queued after commit but the event doorbell
    # (which PostgreSQL rings at commit by itself: NOTIFY).
    assert message.meta["attachments"] == 2
    assert [cb.__qualname__ for cb in callbacks if not cb.__qualname__.startswith("ring.")] == []


def test_safe_filename_keeps_no_directories_or_odd_characters():
    assert safe_filename("..\\..\\boot.ini") == "boot.ini"
    assert safe_filename("a/b/c<script>.png") == "c_script_.png"
    assert safe_filename("", "image/png") == "file.png"
    assert safe_filename("noext", "application/pdf") == "noext.pdf"
    assert len(safe_filename("x" * 500 + ".txt")) <= 124
