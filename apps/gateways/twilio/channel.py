"""Twilio's channels on the bus: SMS/MMS and WhatsApp in (journal channel `sms`), and replies
out on the `phone` and `whatsapp` identity kinds. Without a Twilio account, replies go to the
local outbox (apps.gateways.local) instead."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from apps.bus import registry
from apps.conversations.services import messages_receive
from apps.gateways.base import Gateway
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


def twilio_register() -> None:
    registry.register_inbound(JOURNAL_CHANNEL, parser=TwilioGateway, receiver=messages_receive)
    for kind in KINDS:
        registry.register_sender(kind, gateway=_sender_of(kind), source=_receipt_source)
        registry.register_media_fetcher(kind, _fetch_media)
