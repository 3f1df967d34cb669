"""Telegram on the bus: updates in (journal channel `telegram`), replies out on the `telegram`
identity kind (text, photos, documents), inbound files fetched with getFile."""

from __future__ import annotations

import dataclasses

from apps.bus import registry
from apps.conversations.models import Message
from apps.conversations.services import messages_receive
from apps.core.filetypes import CHAT_FILE_TYPES
from apps.gateways.base import OutboundMessage, PermanentSendError
from apps.gateways.telegram.gateway import JOURNAL_CHANNEL, KIND, TelegramGateway
from apps.gateways.telegram.models import TelegramBot


def telegram_outbound_build(*, message: Message, outbound: OutboundMessage) -> OutboundMessage:
    """The inbox's bot, and the files the agent attached."""
    bot_pk = TelegramBot.objects.filter(inbox_id=message.inbox_id).values_list("pk", flat=True).first()
    if bot_pk is None:
        raise PermanentSendError("telegram_no_bot", "the inbox has no Telegram bot configured")
    files = []
    if (message.meta or {}).get("attachments"):
        for attachment in message.attachments.exclude(file="").order_by("id"):
            with attachment.file.open("rb") as handle:
                name = attachment.filename or f"attachment-{attachment.pk}"
                files.append((name, handle.read(), attachment.content_type or "application/octet-stream"))
    spec = {"bot": bot_pk, "files": files}
    return dataclasses.replace(outbound, options={**outbound.options, "telegram": spec})


def _fetch_media(url: str) -> tuple[bytes, str]:
    return TelegramGateway().fetch_media(url)


MB = 1024 * 1024

# The Bot API's limits for what a bot uploads: a photo (sendPhoto: every image goes as one) up to
# 10 MB, any other file as a document (sendDocument) up to 50 MB; each file is its own message.
LIMITS = registry.FileLimits(
    name="Telegram",
    max_files=10,
    max_total_bytes=50 * MB,
    types={
        **dict.fromkeys(CHAT_FILE_TYPES, 50 * MB),
        **dict.fromkeys(["image/jpeg", "image/png", "image/webp"], 10 * MB),  # sendPhoto
    },
)


def telegram_register() -> None:
    registry.register_inbound(JOURNAL_CHANNEL, parser=TelegramGateway, receiver=messages_receive)
    registry.register_sender(
        KIND, gateway=TelegramGateway, build=telegram_outbound_build, carries_files=True, limits=LIMITS
    )
    registry.register_media_fetcher(KIND, _fetch_media)
