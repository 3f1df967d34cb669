"""XMPP on the bus: inbound messages (journal channel `xmpp`, journalled by run_xmpp) and
replies out on the `xmpp` identity kind, sent by run_xmpp itself on its connections
(`claimed_by_own_process`): the bus worker never sends them."""

from __future__ import annotations

import dataclasses

from django.conf import settings

from apps.bus import registry
from apps.conversations.models import Message
from apps.conversations.services import messages_receive
from apps.core.filetypes import CHAT_FILE_TYPES
from apps.gateways.base import OutboundMessage
from apps.gateways.xmpp.gateway import XmppGateway
from apps.gateways.xmpp.media import xmpp_media_fetch
from apps.gateways.xmpp.services import JOURNAL_CHANNEL, KIND, RECEIPT_SOURCE


def xmpp_outbound_build(*, message: Message, outbound: OutboundMessage) -> OutboundMessage:
    """The inbox whose connection sends it, and the files the agent attached."""
    files: list[tuple[str, bytes, str]] = []
    if (message.meta or {}).get("attachments"):
        for attachment in message.attachments.exclude(file="").order_by("id"):
            with attachment.file.open("rb") as handle:
                files.append((attachment.filename or f"file-{attachment.pk}", handle.read(), attachment.content_type))
    spec = {"inbox_id": message.inbox_id, "files": files}
    return dataclasses.replace(outbound, options={**outbound.options, "xmpp": spec})


def _receipt_source() -> str:
    return RECEIPT_SOURCE


# The files an XMPP reply carries go up by HTTP File Upload; the desk's own bound
# (XMPP_MEDIA_MAX_BYTES, set it to the server's http_file_share_size_limit) is checked before a
# reply is queued, so an oversized file is refused with words instead of failing at send time.


def xmpp_limits() -> registry.FileLimits:
    limit = settings.XMPP_MEDIA_MAX_BYTES
    return registry.FileLimits(
        name="XMPP", max_files=10, max_total_bytes=limit, types=dict.fromkeys(CHAT_FILE_TYPES, limit)
    )


def xmpp_register() -> None:
    registry.register_inbound(JOURNAL_CHANNEL, parser=XmppGateway, receiver=messages_receive)
    registry.register_sender(
        KIND,
        gateway=XmppGateway,
        build=xmpp_outbound_build,
        carries_files=True,
        limits=xmpp_limits(),
        source=_receipt_source,
        claimed_by_own_process=True,
    )
    registry.register_media_fetcher(KIND, xmpp_media_fetch)
