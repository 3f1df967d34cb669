"""Twilio's channels on the bus: SMS/MMS and WhatsApp in (journal channel `sms`), and replies
out on the `phone` and `whatsapp` identity kinds. Without a Twilio account, replies go to the
local outbox (apps.gateways.local) instead."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.conf import settings

from apps.bus import registry
from apps.conversations.media import attachment_link
from apps.conversations.models import Message
from apps.conversations.services import messages_receive
from apps.gateways.base import Gateway, OutboundMessage
from apps.gateways.local import LOCAL_SOURCE, LocalGateway
from apps.gateways.twilio.gateway import TwilioGateway

JOURNAL_CHANNEL = "sms"
KINDS = ("phone", "whatsapp")


def _sender_of(kind: str) -> Callable[[], Gateway]:
    def sender() -> Gateway:
        return TwilioGateway() if settings.TWILIO_ACCOUNT_SID else LocalGateway(kind)

    return sender


def _receipt_source() -> str:
    return f"twilio:{settings.TWILIO_ACCOUNT_SID}" if settings.TWILIO_ACCOUNT_SID else LOCAL_SOURCE


def _fetch_media(url: str) -> tuple[bytes, str]:
    return TwilioGateway().fetch_media(url)


MB = 1024 * 1024

# MMS through Twilio: up to 10 files and 5 MB per message; images show on every phone, the
# other types Twilio accepts may show as a link (https://www.twilio.com/docs/messaging/guides/accepted-mime-types).
MMS_LIMITS = registry.FileLimits(
    name="MMS",
    max_files=10,
    max_total_bytes=5 * MB,
    types={
        **dict.fromkeys(["image/jpeg", "image/png", "image/gif"], 5 * MB),
        **dict.fromkeys(["audio/mpeg", "audio/mp4", "audio/ogg", "audio/amr", "audio/3gpp"], 5 * MB),
        **dict.fromkeys(["video/mp4", "video/3gpp", "video/quicktime"], 5 * MB),
        **dict.fromkeys(["application/pdf", "text/vcard", "text/x-vcard"], 5 * MB),
    },
)

# WhatsApp through Twilio: one file per message, images up to 5 MB, the rest up to 16 MB
# (channels-next.md §3.4).
WHATSAPP_LIMITS = registry.FileLimits(
    name="WhatsApp",
    max_files=1,
    max_total_bytes=16 * MB,
    types={
        **dict.fromkeys(["image/jpeg", "image/png", "image/webp"], 5 * MB),
        **dict.fromkeys(["audio/ogg", "audio/amr", "audio/3gpp", "audio/aac", "audio/mpeg", "audio/mp4"], 16 * MB),
        "video/mp4": 16 * MB,
        **dict.fromkeys(
            [
                "application/pdf",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "text/vcard",
            ],
            16 * MB,
        ),
    },
)

LIMITS = {"phone": MMS_LIMITS, "whatsapp": WHATSAPP_LIMITS}


def twilio_outbound_build(*, message: Message, outbound: OutboundMessage) -> OutboundMessage:
    """Files go as MediaUrl links Twilio fetches from us (signed, expiring); a template goes as
    ContentSid + ContentVariables (apps.whatsapp put them in the message's meta)."""
    options = dict(outbound.options)
    template = (message.meta or {}).get("template")
    if isinstance(template, dict) and template.get("sid"):
        options["content_sid"] = template["sid"]
        options["content_variables"] = template.get("variables") or {}
    media_urls: tuple[str, ...] = ()
    if (message.meta or {}).get("attachments"):
        media_urls = tuple(attachment_link(a) for a in message.attachments.exclude(file="").order_by("id"))
    return dataclasses.replace(outbound, media_urls=media_urls, options=options)


def twilio_register() -> None:
    from apps.gateways.twilio.views import inbound_message_handle, status_callback_handle

    # Served by the bus's lean ASGI front, before Django (apps.bus.ingest); the views are the same.
    registry.register_webhook("twilio-inbound", inbound_message_handle)
    registry.register_webhook("twilio-status", status_callback_handle)
    registry.register_inbound(JOURNAL_CHANNEL, parser=TwilioGateway, receiver=messages_receive)
    for kind in KINDS:
        registry.register_sender(
            kind,
            gateway=_sender_of(kind),
            build=twilio_outbound_build,
            carries_files=True,
            limits=LIMITS[kind],
            source=_receipt_source,
            rate=settings.TWILIO_WHATSAPP_MPS if kind == "whatsapp" else settings.TWILIO_SMS_MPS,
        )
        registry.register_media_fetcher(kind, _fetch_media)
