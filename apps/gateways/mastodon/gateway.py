"""Mastodon: mentions and direct messages in (parsed from what the journal stored), replies out
as statuses (public replies keep the post's visibility; private ones are direct statuses).

A mention is journalled as the Notification JSON the instance gave (from the stream or from the
notifications backfill) under the source `mastodon:<instance host>:<account pk>` with the
**status id** as provider id, so the same post seen by both paths is stored once, by the
journal's unique constraint. The sender's identity is its stable account id on the desk's
instance (`<id>@<host>`), never the handle, which can change.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import mimetypes
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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
from apps.gateways.email.html import html_to_text
from apps.gateways.http_io import pinned_get, read_capped
from apps.gateways.mastodon import client
from apps.gateways.mastodon.client import MastodonError, MastodonUnreachable, RateLimit
from apps.gateways.mastodon.models import MastodonAccount

log = logging.getLogger(__name__)

JOURNAL_CHANNEL = "mastodon"
KIND = "mastodon"
# Mastodon keeps an Idempotency-Key for up to an hour; within this much of an attempt a resend
# with the same key cannot double the status, later one is looked up first.
IDEMPOTENCY_WINDOW = dt.timedelta(minutes=50)
PRIVATE = "direct"
VISIBILITIES = ("public", "unlisted", "private", "direct")


def identity_address(account_id: str, host: str) -> str:
    """A Mastodon account as an identity: its id on the desk's instance, and that instance."""
    return f"{account_id}@{host}"


def full_acct(acct: str, host: str) -> str:
    """`jane@example.social` for a remote account; a local one (`jane`) gets the desk's host."""
    host_name = host.split(":", 1)[0]
    return acct if "@" in acct else f"{acct}@{host_name}"


def desk_handles() -> list[str]:
    """The desk's Mastodon accounts, as customers write to them (`@support@mastodon.example`)."""
    return [f"@{full_acct(a.username, a.host)}" for a in MastodonAccount.objects.exclude(username="").order_by("pk")]


def link_instructions(code: str) -> str:
    handles = desk_handles()
    where = " or ".join(handles) if handles else "the support account"
    return (
        f"Send {code} as a direct (private) message from your Mastodon account to {where}. "
        "Do not post it publicly: a public code is refused."
    )


def idempotency_key(message_id: int) -> str:
    return f"supportdesk-message-{message_id}"


# --- what the intake reads before the journal insert ---------------------------------------


def journal_fields(raw: bytes, host: str) -> tuple[str, str, str]:
    """(provider id, sender, flag reason) of a notification, read without trusting it: the status
    id (a digest of the bytes when there is none), the sender's identity address, and why it is
    flagged at once ("" when it is not)."""
    digest = payload_digest(raw)
    try:
        notification = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return digest, "", "the notification is not JSON"
    if not isinstance(notification, dict):
        return digest, "", "the notification is not a JSON object"
    status = notification.get("status")
    status_id = status.get("id") if isinstance(status, dict) else None
    if not isinstance(status_id, str | int) or isinstance(status_id, bool) or not str(status_id):
        return digest, "", "the mention has no status id"
    account = status.get("account") if isinstance(status, dict) else None
    account_id = account.get("id") if isinstance(account, dict) else None
    sender = identity_address(str(account_id), host) if isinstance(account_id, str | int) else ""
    return str(status_id), sender, ""


# --- parsing -----------------------------------------------------------------------------


def _media(item: dict[str, Any]) -> InboundAttachment:
    url = item.get("url") or item.get("remote_url") or ""
    kind = str(item.get("type") or "")
    guessed = mimetypes.guess_type(urlsplit(str(url)).path)[0]
    default = {"image": "image/jpeg", "gifv": "video/mp4", "video": "video/mp4", "audio": "audio/mpeg"}
    content_type = guessed or default.get(kind, "application/octet-stream")
    name = urlsplit(str(url)).path.rsplit("/", 1)[-1][:100]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return InboundAttachment(
            content_type=content_type, filename=name, error="The instance gave no link to this file."
        )
    return InboundAttachment(url=url, content_type=content_type, filename=name)


def status_text(status: dict[str, Any]) -> str:
    text = html_to_text(str(status.get("content") or "")).strip()
    warning = str(status.get("spoiler_text") or "").strip()
    if warning:
        text = f"[CW: {warning}]\n{text}"
    if not text and status.get("media_attachments"):
        text = "[Media]"
    return text


class MastodonGateway(Gateway):
    channel = JOURNAL_CHANNEL

    def verify(self, request: HttpRequest) -> bool:
        return False  # nothing is posted to the desk: it reads the stream and the notifications

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        try:
            inbox_id = int(payload_value(payload, "inbox"))
        except ValueError as exc:
            raise MalformedPayload("the journal entry names no Mastodon inbox") from exc
        host = payload_value(payload, "host")
        try:
            notification = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("the notification is not JSON") from exc
        status = notification.get("status") if isinstance(notification, dict) else None
        if not isinstance(status, dict) or not status.get("id"):
            raise MalformedPayload("the mention has no status")
        account = status.get("account")
        if not isinstance(account, dict) or not account.get("id") or not account.get("acct"):
            raise MalformedPayload("the status has no account")
        visibility = str(status.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            visibility = "public"
        acct = full_acct(str(account["acct"]), host)
        attachments = [_media(m) for m in status.get("media_attachments") or [] if isinstance(m, dict)]
        created = parse_datetime(str(status.get("created_at") or "")) or timezone.now()
        meta = {
            "mastodon": {
                "status_id": str(status["id"]),
                "visibility": visibility,
                "acct": acct,
                "account_id": str(account["id"]),
                "url": str(status.get("url") or status.get("uri") or ""),
                "account_url": str(account.get("url") or ""),
                "in_reply_to_id": str(status.get("in_reply_to_id") or ""),
            }
        }
        return [
            InboundMessage(
                channel=KIND,
                sender=identity_address(str(account["id"]), host),
                sender_display=f"@{acct}",
                recipient="",
                provider_message_id=str(status["id"]),
                text=status_text(status),
                received_at=created,
                sender_name=str(account.get("display_name") or "").strip(),
                attachments=tuple(attachments),
                meta=meta,
                inbox_id=inbox_id,
            )
        ]

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        return []  # Mastodon sends no delivery receipts

    # --- outbound --------------------------------------------------------------------
    def send(self, outbound: OutboundMessage) -> SendResult:
        spec = outbound.options.get("mastodon") or {}
        account = MastodonAccount.objects.filter(pk=int(spec.get("account") or 0)).first()
        if account is None:
            raise PermanentSendError("mastodon_no_account", "the inbox has no Mastodon account configured")
        _wait_for_rate_limit(account)
        try:
            media_ids = [_upload(account, item) for item in spec.get("files") or []]
            form: list[tuple[str, str]] = [
                ("status", outbound.body or ""),
                ("visibility", spec.get("visibility") or PRIVATE),
            ]
            if spec.get("in_reply_to_id"):
                form.append(("in_reply_to_id", str(spec["in_reply_to_id"])))
            form += [("media_ids[]", media_id) for media_id in media_ids]
            answer = client.call(
                account.base_url,
                account.access_token,
                "POST",
                "/api/v1/statuses",
                data=form,
                idempotency_key=idempotency_key(outbound.message_id),
                timeout=settings.MASTODON_SEND_TIMEOUT,
            )
        except MastodonError as exc:
            remember_limit(account, exc.limit)
            raise send_error(exc) from exc
        except MastodonUnreachable as exc:
            if exc.sent:
                raise SendOutcomeUnknown(str(exc)) from exc
            raise TransientSendError(str(exc)) from exc
        remember_limit(account, answer.limit)
        status_id = answer.body.get("id") if isinstance(answer.body, dict) else None
        if not status_id:
            raise SendOutcomeUnknown("the instance answered without a status id")
        # No delivery receipts: a status the instance took is on the customer's timeline.
        return SendResult(provider_message_id=str(status_id), status=Message.Status.DELIVERED)

    def confirm(self, outbound: OutboundMessage, *, attempted_at: dt.datetime) -> SendResult | None:
        """A send whose answer was lost. Within the Idempotency-Key's hour, sending again with the
        same key returns the status the instance already made (never a second one), so None
        (send again) is safe. Later, the desk account's own statuses are read for one replying
        to the same post with the same text, made since the attempt."""
        if timezone.now() - attempted_at < IDEMPOTENCY_WINDOW:
            return None
        spec = outbound.options.get("mastodon") or {}
        account = MastodonAccount.objects.filter(pk=int(spec.get("account") or 0)).first()
        if account is None or not account.account_id:
            raise TransientSendError("the Mastodon account cannot be read to confirm a send")
        try:
            answer = client.call(
                account.base_url,
                account.access_token,
                "GET",
                f"/api/v1/accounts/{account.account_id}/statuses",
                params={"limit": "40"},
            )
        except (MastodonError, MastodonUnreachable) as exc:
            raise TransientSendError(f"Mastodon statuses could not be read: {exc}") from exc
        since = attempted_at - dt.timedelta(minutes=1)
        for status in answer.body if isinstance(answer.body, list) else []:
            if not isinstance(status, dict):
                continue
            created = parse_datetime(str(status.get("created_at") or ""))
            same_reply = str(status.get("in_reply_to_id") or "") == str(spec.get("in_reply_to_id") or "")
            if (
                same_reply
                and _without_mentions(status_text(status)) == _without_mentions(outbound.body or "")
                and (created is None or created >= since)
            ):
                return SendResult(provider_message_id=str(status["id"]), status=Message.Status.DELIVERED)
        return None

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """A file of an inbound status, from the link the instance gave (copied at once)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentSendError("media_url", f"not a web link: {url[:80]}")
        instance_hosts = {a.host for a in MastodonAccount.objects.all()}
        # A link to another host (a remote server's original) must not make the desk fetch from
        # its own network (checked on the address connected to); the desk's instance is trusted,
        # wherever it runs.
        private_ok = parts.netloc.lower() in instance_hosts or settings.MASTODON_MEDIA_PRIVATE_ADDRESSES
        refused = PermanentSendError("media_refused", f"{parts.hostname} is not a public address")
        limit = settings.MASTODON_MEDIA_MAX_BYTES
        try:
            response = pinned_get(url, private_ok=private_ok, refused=refused, timeout=(5, 30))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientSendError(f"Mastodon media: {exc}") from exc
        with response:
            if response.status_code in (404, 410):
                raise PermanentSendError("media_gone", "the instance no longer has this file")
            if response.status_code != 200:
                raise TransientSendError(f"Mastodon media answered {response.status_code}")
            too_large = PermanentSendError("media_too_large", f"the file is over {limit} bytes")
            data = read_capped(response, max_bytes=limit, too_large=too_large)
            content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(";")[0]
        return data, content_type


_MENTION = re.compile(r"(?<![\w@])@[\w.-]+(?:@[\w.-]+)?")


def _without_mentions(text: str) -> str:
    """The words of a status without its mentions: the instance renders `@jane@example.social`
    as a link reading `@jane`, so the text sent and the text shown differ there only."""
    return " ".join(_MENTION.sub(" ", text).split())


def _upload(account: MastodonAccount, item: Any) -> str:
    name, data, content_type = item
    answer = client.call(
        account.base_url,
        account.access_token,
        "POST",
        "/api/v2/media",
        files={"file": (name, data, content_type)},
        timeout=60.0,
    )
    remember_limit(account, answer.limit)
    media_id = answer.body.get("id") if isinstance(answer.body, dict) else None
    if not media_id:
        raise MastodonError(status=502, error="the media upload gave no id")
    return str(media_id)


def remember_limit(account: MastodonAccount, limit: RateLimit) -> None:
    """Keep what the instance said of the account's rate limit (sends wait for its reset at 0)."""
    if limit.remaining is None:
        return
    MastodonAccount.objects.filter(pk=account.pk).update(
        ratelimit_remaining=limit.remaining, ratelimit_reset=limit.reset
    )


def _wait_for_rate_limit(account: MastodonAccount) -> None:
    """The instance said no requests are left until its reset: do not spend a 429 on it."""
    if account.ratelimit_remaining is not None and account.ratelimit_remaining <= 0 and account.ratelimit_reset:
        wait = (account.ratelimit_reset - timezone.now()).total_seconds()
        if wait > 0:
            raise TransientSendError(f"Mastodon rate limit reached; it resets in {wait:.0f} s", retry_after=wait)


def send_error(exc: MastodonError) -> Exception:
    """An instance's refusal: to wait and retry, or never to retry."""
    text = exc.error or f"error {exc.status}"
    if exc.status == 429:
        return TransientSendError(f"Mastodon rate limit: {text}", retry_after=exc.retry_after)
    if exc.status == 422:
        if "processing" in text.lower():
            return TransientSendError(f"Mastodon is still processing the media: {text}", retry_after=5)
        return PermanentSendError("mastodon_rejected", f"The instance refused the status ({text}).")
    if exc.status == 404:
        return PermanentSendError("mastodon_not_found", f"The post replied to is gone ({text}).")
    if exc.status == 413:
        return PermanentSendError("mastodon_too_large", f"The instance refused the file as too large ({text}).")
    # 401/403: the token is wrong or revoked; 5xx: keep the reply queued (with backoff) so that
    # fixing the account sends it.
    return TransientSendError(f"Mastodon answered {exc.status}: {text}", retry_after=exc.retry_after)
