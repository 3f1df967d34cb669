"""Telegram: updates in (parsed from what the journal stored), replies out through the Bot API.

Updates are journalled as they came (the raw JSON) under the source `telegram:<bot id>` with the
`update_id` as provider id, so a redelivered update (webhook retry, a poll replayed after a
crash) is stored once by the journal's constraint. The payload names the inbox and the bot.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import mimetypes
import os
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.conversations.models import Message
from apps.gateways.base import (
    DeliveryStatus,
    Gateway,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    Payload,
    PermanentSendError,
    SendOutcomeUnknown,
    SendResult,
    TransientSendError,
    payload_digest,
    payload_value,
)
from apps.gateways.telegram import client
from apps.gateways.telegram.client import TelegramError, TelegramUnreachable
from apps.gateways.telegram.models import TelegramBot

log = logging.getLogger(__name__)

JOURNAL_CHANNEL = "telegram"
KIND = "telegram"
FILE_URL_PREFIX = "tg-file:"  # tg-file:<TelegramBot pk>/<file_id>/<name>: fetched with getFile later
_SAFE_STEM = re.compile(r"[^\w.-]+")
MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}


# --- what the intake reads before answering ------------------------------------------------


def journal_fields(raw: bytes) -> tuple[str, str, str]:
    """(provider id, sender, flag reason) of a posted update, read without trusting it: the
    update_id (a digest of the bytes when there is none), the chat id, and why the update is
    flagged at once ("" when it is not)."""
    digest = payload_digest(raw)
    try:
        update = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return digest, "", "the update is not JSON"
    if not isinstance(update, dict):
        return digest, "", "the update is not a JSON object"
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return digest, "", "the update has no update_id"
    body = _message_of(update)[0]
    chat = body.get("chat") if isinstance(body, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    sender = str(chat_id) if isinstance(chat_id, int) else ""
    return str(update_id), sender, ""


def secret_matches(bot: TelegramBot, request: HttpRequest) -> bool:
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    return bool(given) and hmac.compare_digest(given.encode(), bot.webhook_secret.encode())


# --- parsing -----------------------------------------------------------------------------


def _message_of(update: dict[str, Any]) -> tuple[Any, str]:
    for key in ("message", "edited_message", "my_chat_member"):
        if key in update:
            return update[key], key
    return None, ""


def _name(person: dict[str, Any]) -> str:
    return " ".join(str(person.get(k) or "").strip() for k in ("first_name", "last_name")).strip()


def _duration(seconds: Any) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}" if isinstance(seconds, int) else ""


def _file(bot_pk: int, item: dict[str, Any], content_type: str, filename: str = "") -> InboundAttachment:
    file_id = item.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise MalformedPayload("a file without a file_id")
    size = item.get("file_size")
    if isinstance(size, int) and size > settings.TELEGRAM_MEDIA_MAX_BYTES:
        return InboundAttachment(
            content_type=content_type,
            filename=filename,
            error=f"The file is {size} bytes; bots can download at most {settings.TELEGRAM_MEDIA_MAX_BYTES}.",
        )
    # The last part names the stored file (the fetch adds the extension of the type it gets).
    stem = _SAFE_STEM.sub("_", os.path.splitext(filename)[0])[:60].strip("_") or content_type.split("/")[0] or "file"
    return InboundAttachment(
        url=f"{FILE_URL_PREFIX}{bot_pk}/{file_id}/{stem}", content_type=content_type, filename=filename
    )


def readable(message: dict[str, Any], bot_pk: int) -> tuple[str, list[InboundAttachment]]:
    """The text an agent reads for a Telegram message, and its files."""
    caption = str(message.get("caption") or "")
    if isinstance(message.get("text"), str):
        return message["text"], []
    if isinstance(message.get("photo"), list) and message["photo"]:
        sizes = [p for p in message["photo"] if isinstance(p, dict)]
        largest = max(sizes, key=lambda p: (p.get("width") or 0) * (p.get("height") or 0), default=None)
        if largest is None:
            raise MalformedPayload("a photo without sizes")
        return caption or "[Photo]", [_file(bot_pk, largest, "image/jpeg")]
    if isinstance(message.get("document"), dict):
        doc = message["document"]
        name = str(doc.get("file_name") or "document")
        ctype = str(doc.get("mime_type") or mimetypes.guess_type(name)[0] or "application/octet-stream")
        return caption or f"[Document: {name}]", [_file(bot_pk, doc, ctype, name)]
    if isinstance(message.get("voice"), dict):
        voice = message["voice"]
        length = _duration(voice.get("duration"))
        ctype = str(voice.get("mime_type") or "audio/ogg")
        return caption or f"[Voice message{', ' + length if length else ''}]", [_file(bot_pk, voice, ctype)]
    if isinstance(message.get("audio"), dict):
        audio = message["audio"]
        title = " – ".join(str(audio[k]) for k in ("performer", "title") if audio.get(k)) or "audio"
        ctype = str(audio.get("mime_type") or "audio/mpeg")
        return caption or f"[Audio: {title}]", [_file(bot_pk, audio, ctype, str(audio.get("file_name") or ""))]
    for key, label in (("video", "Video"), ("video_note", "Video message"), ("animation", "Animation")):
        if isinstance(message.get(key), dict):
            video = message[key]
            length = _duration(video.get("duration"))
            ctype = str(video.get("mime_type") or "video/mp4")
            return caption or f"[{label}{', ' + length if length else ''}]", [_file(bot_pk, video, ctype)]
    if isinstance(message.get("location"), dict):
        place = message["location"]
        lat, lon = place.get("latitude"), place.get("longitude")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise MalformedPayload("a location without latitude and longitude")
        venue: dict[str, Any] = message["venue"] if isinstance(message.get("venue"), dict) else {}
        where = " — ".join(str(venue[k]) for k in ("title", "address") if venue.get(k))
        link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
        return f"[Location{': ' + where if where else ''}] {lat}, {lon} {link}", []
    if isinstance(message.get("contact"), dict):
        card = message["contact"]
        parts = [p for p in (_name(card), str(card.get("phone_number") or "")) if p]
        return f"[Contact] {', '.join(parts) or 'no details'}", []
    if isinstance(message.get("sticker"), dict):
        return f"[Sticker {message['sticker'].get('emoji') or ''}]".replace(" ]", "]"), []
    known = sorted(k for k in message if k not in {"message_id", "from", "chat", "date", "edit_date"})
    return f"[A Telegram message this desk does not show: {', '.join(known[:3]) or 'empty'}]", []


class TelegramGateway(Gateway):
    channel = JOURNAL_CHANNEL

    # --- inbound ---------------------------------------------------------------------
    def verify(self, request: HttpRequest) -> bool:
        key = (request.resolver_match.kwargs.get("key") if request.resolver_match else "") or ""
        bot = TelegramBot.objects.filter(inbox__key=key).first()
        return bot is not None and secret_matches(bot, request)

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        try:
            inbox_id = int(payload_value(payload, "inbox"))
            bot_pk = int(payload_value(payload, "bot"))
        except ValueError as exc:
            raise MalformedPayload("the journal entry names no Telegram inbox") from exc
        try:
            update = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("the update is not JSON") from exc
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise MalformedPayload("the update has no update_id")
        message, key = _message_of(update)
        if key == "my_chat_member":
            return []  # the bot was blocked or unblocked: nothing for an agent to read
        if not isinstance(message, dict):
            others = ", ".join(sorted(k for k in update if k != "update_id")) or "nothing"
            raise MalformedPayload(f"an update this desk does not take ({others})")
        chat = message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise MalformedPayload("the message has no chat id")
        message_id = message.get("message_id")
        if not isinstance(message_id, int):
            raise MalformedPayload("the message has no message_id")
        assert isinstance(chat, dict)
        person: dict[str, Any] = message["from"] if isinstance(message.get("from"), dict) else chat
        name = _name(person) or str(chat.get("title") or "")
        username = str(person.get("username") or "")
        text, attachments = readable(message, bot_pk)
        edited = key == "edited_message"
        provider_id = f"{chat_id}:{message_id}"
        meta: dict[str, Any] = {"telegram": {"message_id": message_id, "chat_type": chat.get("type", "")}}
        if username:
            meta["telegram"]["username"] = username
        if isinstance(message.get("message_thread_id"), int):
            meta["telegram"]["thread_id"] = message["message_thread_id"]
        stamp = message.get("edit_date") if edited else message.get("date")
        if edited:
            meta["edited"] = True
            original = (
                Message.objects.filter(inbox_id=inbox_id, provider_id=provider_id).values_list("pk", flat=True).first()
            )
            if original is not None:
                meta["edit_of"] = original
            text = f"(edited) {text}"
            provider_id = f"{provider_id}:edit:{stamp if isinstance(stamp, int) else update['update_id']}"
        received = (
            dt.datetime.fromtimestamp(stamp, dt.UTC)
            if isinstance(stamp, int) and stamp > 0
            else dt.datetime.now(dt.UTC)
        )
        return [
            InboundMessage(
                channel=KIND,
                sender=str(chat_id),
                sender_display=f"@{username}" if username else (name or str(chat_id)),
                recipient="",
                provider_message_id=provider_id,
                text=text,
                received_at=received,
                sender_name=name,
                attachments=tuple(attachments),
                meta=meta,
                inbox_id=inbox_id,
            )
        ]

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        return []  # Telegram sends no delivery receipts to bots

    # --- outbound --------------------------------------------------------------------
    def send(self, outbound: OutboundMessage) -> SendResult:
        spec = outbound.options.get("telegram") or {}
        bot = TelegramBot.objects.filter(pk=int(spec.get("bot") or 0)).first()
        if bot is None:
            raise PermanentSendError("telegram_no_bot", "the inbox has no Telegram bot configured")
        files: list[tuple[str, bytes, str]] = list(spec.get("files") or [])
        body = outbound.body or ""
        chat: dict[str, Any] = {"chat_id": outbound.to}
        if isinstance(spec.get("thread_id"), int):
            chat["message_thread_id"] = spec["thread_id"]
        caption = bool(files) and 0 < len(body) <= MAX_CAPTION
        sent: list[dict[str, Any]] = []
        try:
            if body and not caption:
                for start in range(0, len(body), MAX_TEXT):
                    sent.append(client.call(bot.token, "sendMessage", {**chat, "text": body[start : start + MAX_TEXT]}))
            for index, (name, data, content_type) in enumerate(files):
                photo = content_type in PHOTO_TYPES and len(data) <= PHOTO_MAX_BYTES
                method, field = ("sendPhoto", "photo") if photo else ("sendDocument", "document")
                params = dict(chat)
                if caption and index == 0:
                    params["caption"] = body
                sent.append(client.call(bot.token, method, params, files={field: (name, data, content_type)}))
        except TelegramError as exc:
            raise send_error(exc) from exc
        except TelegramUnreachable as exc:
            if exc.sent:
                raise SendOutcomeUnknown(str(exc)) from exc
            raise TransientSendError(str(exc)) from exc
        first = sent[0] if sent else {}
        message_id = first.get("message_id") if isinstance(first, dict) else None
        # No delivery receipts for bots: what the Bot API took is in the customer's chat.
        return SendResult(provider_message_id=f"{outbound.to}:{message_id}", status=Message.Status.DELIVERED)

    def confirm(self, outbound: OutboundMessage, *, attempted_at: dt.datetime) -> SendResult | None:
        """Telegram cannot list what a bot sent. A send whose answer was lost is sent again: the
        customer may read a reply twice, never not at all (docs/telegram.md)."""
        return None

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """A file of an inbound message: getFile, then the download (copied at once: the link
        lasts about an hour)."""
        if not url.startswith(FILE_URL_PREFIX):
            raise PermanentSendError("media_url", f"not a Telegram file: {url[:80]}")
        bot_pk, _, rest = url[len(FILE_URL_PREFIX) :].partition("/")
        file_id = rest.split("/", 1)[0]
        bot = TelegramBot.objects.filter(pk=int(bot_pk) if bot_pk.isdigit() else 0).first()
        if bot is None or not file_id:
            raise PermanentSendError("media_bot", "the Telegram bot of this file is gone")
        try:
            info = client.call(bot.token, "getFile", {"file_id": file_id})
            path = info.get("file_path") if isinstance(info, dict) else None
            if not isinstance(path, str) or not path:
                raise PermanentSendError("media_telegram", "Telegram gave no file path for this file")
            data = client.download(bot.token, path, max_bytes=settings.TELEGRAM_MEDIA_MAX_BYTES)
        except TelegramError as exc:
            error = send_error(exc)
            if isinstance(error, PermanentSendError):
                raise PermanentSendError("media_telegram", f"Telegram refused the file: {exc.description}") from exc
            raise error from exc
        except TelegramUnreachable as exc:
            raise TransientSendError(str(exc)) from exc
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return data, content_type


def send_error(exc: TelegramError) -> Exception:
    """A Bot API refusal: to wait and retry, or never to retry (channels-next.md §2.3)."""
    text = exc.description or f"error {exc.error_code}"
    code = exc.error_code or exc.status
    if code == 429:
        return TransientSendError(f"Telegram: {text}", retry_after=exc.retry_after)
    if code == 403:
        if "blocked" in text.lower():
            return PermanentSendError("telegram_blocked", f"The customer blocked the bot on Telegram ({text}).")
        return PermanentSendError(
            "telegram_forbidden", f"Telegram refused: the bot cannot write to this chat ({text})."
        )
    if code == 413:
        return PermanentSendError("telegram_too_large", f"Telegram refused the file as too large ({text}).")
    if code == 400:
        migrated = exc.parameters.get("migrate_to_chat_id")
        if migrated:
            return PermanentSendError("telegram_chat_migrated", f"The group moved to chat {migrated} ({text}).")
        return PermanentSendError("telegram_bad_request", f"Telegram refused the message ({text}).")
    # 401/404: the token is wrong or revoked; 5xx, or an answer that is not the Bot API's:
    # keep the reply queued (with backoff) so that fixing the bot sends it.
    return TransientSendError(f"Telegram answered {exc.status} ({code}): {text}")
