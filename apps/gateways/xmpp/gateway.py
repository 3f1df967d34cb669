"""The XMPP gateway: parses what run_xmpp journalled, and sends replies on run_xmpp's live
connection (apps.gateways.xmpp.live), from the outbox's sender threads in that process.

Exactly once. XMPP has no per-message server acknowledgement without stream management, so a
send is: upload the files (XEP-0363), write the stanzas — each with the same `id` and
`origin-id` on every attempt (apps.gateways.xmpp.ids) — then a ping to the server. The server
handles a session's stanzas in order, so its answer to the ping means it has routed (and
archived) every stanza before it: the send is settled as sent. No answer (a drop, a timeout)
is `SendOutcomeUnknown`: before any resend the outbox calls `confirm`, which looks for those
ids among the account's own archived messages (MAM) — the resend then writes only the
stanzas the server never got.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.gateways.base import (
    DeliveryStatus,
    Gateway,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    Payload,
    SendOutcomeUnknown,
    SendResult,
    TransientSendError,
    payload_value,
)
from apps.gateways.xmpp import ids
from apps.gateways.xmpp.live import live


def parts_of(outbound: OutboundMessage) -> list[tuple[str, tuple[str, bytes, str] | None]]:
    """The stanzas of a reply, in order: its text, then one per file (text, file)."""
    spec = outbound.options.get("xmpp") or {}
    parts: list[tuple[str, tuple[str, bytes, str] | None]] = []
    if outbound.body.strip():
        parts.append((outbound.body, None))
    for name, data, content_type in spec.get("files") or ():
        parts.append(("", (name, data, content_type)))
    return parts


class XmppGateway(Gateway):
    channel = "xmpp"

    def __init__(self) -> None:
        # Stanza ids the server already has, found by `confirm`: a resend skips them.
        self.already_sent: set[str] = set()

    def verify(self, request: HttpRequest) -> bool:
        return False  # nothing comes in over HTTP: run_xmpp journals what its connections read

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        sender = payload_value(payload, "from")
        inbox = payload_value(payload, "inbox")
        key = payload_value(payload, "stanza_id")
        if not sender or "@" not in sender or not inbox.isdigit() or not key:
            raise MalformedPayload("an XMPP message without a sender, inbox or stanza id")
        sent_at = parse_datetime(payload_value(payload, "sent_at")) if payload_value(payload, "sent_at") else None
        urls = [u for u in payload.get("oob") or [] if u]
        attachments = tuple(InboundAttachment(url=url) for url in urls if url.startswith(("http://", "https://")))
        meta: dict[str, Any] = {"xmpp": {"stanza_id": key}}
        if sent_at is not None:
            meta["xmpp"]["sent_at"] = sent_at.isoformat()
        if payload_value(payload, "archived"):
            meta["xmpp"]["archived"] = True
        if urls:
            meta["xmpp"]["links"] = urls
        return [
            InboundMessage(
                channel="xmpp",
                sender=sender,
                sender_display=sender,
                recipient=payload_value(payload, "to"),
                provider_message_id=key,
                text=payload_value(payload, "body"),
                received_at=sent_at or timezone.now(),
                sender_name=payload_value(payload, "nick")[:120],
                attachments=attachments,
                meta=meta,
                inbox_id=int(inbox),
            )
        ]

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        return []

    def _client(self, outbound: OutboundMessage) -> Any:
        inbox_id = (outbound.options.get("xmpp") or {}).get("inbox_id")
        client = live.client(inbox_id) if inbox_id is not None else None
        if client is None:
            raise TransientSendError("the XMPP account is not connected")
        return client

    def _wait(self, future: concurrent.futures.Future[Any], what: str) -> Any:
        try:
            return future.result(timeout=settings.XMPP_SEND_TIMEOUT_SECONDS + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SendOutcomeUnknown(f"no answer from the XMPP connection while {what}") from None

    def send(self, outbound: OutboundMessage) -> SendResult:
        client = self._client(outbound)
        ids_ = [ids.stanza_id(outbound.message_id, n) for n in range(len(parts_of(outbound)))]
        if not ids_:
            raise TransientSendError("nothing to send")  # never queued empty (message_send refuses it)
        future = live.run(client.send_reply(outbound, parts_of(outbound), skip=set(self.already_sent)))
        self._wait(future, "sending")
        return SendResult(provider_message_id=ids_[0], status="sent")

    def confirm(self, outbound: OutboundMessage, *, attempted_at: dt.datetime) -> SendResult | None:
        wanted = [ids.stanza_id(outbound.message_id, n) for n in range(len(parts_of(outbound)))]
        since = attempted_at - dt.timedelta(minutes=5)  # clocks of the server and ours differ
        try:
            client = self._client(outbound)
            found: set[str] = self._wait(
                live.run(client.archived_ids(with_jid=outbound.to, since=since)), "asking the archive"
            )
        except SendOutcomeUnknown:
            raise
        except Exception as exc:  # noqa: BLE001 - no answer from the archive is no answer about the send
            # Still unknown, not "not sent": a plain TransientSendError would let the outbox
            # forget the earlier attempt and send again without asking.
            raise SendOutcomeUnknown(f"the archive could not be asked: {exc!r}") from exc
        self.already_sent = found & set(wanted)
        if wanted and all(w in found for w in wanted):
            return SendResult(provider_message_id=wanted[0], status="sent")
        return None
