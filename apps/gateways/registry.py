"""Which gateway sends on which identity kind, and which parses which journal channel.

A channel plugs in by adding one line to each table: the dotted path of its gateway class.
Twilio's phone and WhatsApp kinds are special-cased: without a Twilio account they go to the
local outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from apps.gateways.base import Gateway

TWILIO_KINDS = ("phone", "whatsapp", "sms")

# Identity kind -> the gateway that sends to it (other than Twilio's kinds).
SEND_GATEWAYS: dict[str, str] = {
    "email": "apps.gateways.email.gateway.EmailGateway",
    "widget": "apps.widget.gateway.WidgetGateway",
}

# Identity kind -> a service that completes the OutboundMessage of a queued message before the
# gateway sends it (email: subject, threading headers, reply address, attachments). Called as
# builder(message=Message, outbound=OutboundMessage) -> OutboundMessage; may raise
# PermanentSendError. Kinds without one send the plain OutboundMessage.
OUTBOUND_BUILDERS: dict[str, str] = {
    "email": "apps.mail.outbound.email_outbound_build",
}

# Identity kinds whose replies can carry files an agent attached.
ATTACHMENT_KINDS: frozenset[str] = frozenset({"email", "widget"})

# Journal channel (InboundEntry.channel) -> the gateway that parses what its intake stored.
INBOUND_GATEWAYS: dict[str, str] = {
    "sms": "apps.gateways.twilio.gateway.TwilioGateway",
    "email": "apps.gateways.email.gateway.EmailGateway",
}


# Journal channel -> a service that threads and stores what the gateway parsed, for channels
# whose routing is more than "find the inbox by address, then the contact's open conversation"
# (email). Called as receiver(entry=InboundEntry, inbound=InboundMessage) -> Message | None,
# inside a transaction; raises apps.gateways.base.Unroutable to flag the entry.
RECEIVERS: dict[str, str] = {
    "email": "apps.mail.router.email_receive",
}


def receiver_for(channel: str) -> Callable[..., Any] | None:
    path = RECEIVERS.get(channel)
    return import_string(path) if path else None


def outbound_builder_for(kind: str) -> Callable[..., Any] | None:
    path = OUTBOUND_BUILDERS.get(kind)
    return import_string(path) if path else None


def sendable_kinds() -> frozenset[str]:
    """Identity kinds a reply can go out on."""
    return frozenset({"phone", "whatsapp", *SEND_GATEWAYS})


def gateway_for(channel: str) -> Gateway:
    if channel in TWILIO_KINDS:
        if not settings.TWILIO_ACCOUNT_SID:
            from apps.gateways.local import LocalGateway

            return LocalGateway(channel)
        from apps.gateways.twilio.gateway import TwilioGateway

        return TwilioGateway()
    path = SEND_GATEWAYS.get(channel)
    if path is None:
        raise LookupError(f"no gateway sends on channel {channel!r}")
    return import_string(path)()


def source_for(channel: str) -> str:
    """The status-receipt source of sends on this channel."""
    if channel in TWILIO_KINDS:
        return f"twilio:{settings.TWILIO_ACCOUNT_SID}" if settings.TWILIO_ACCOUNT_SID else "local"
    return channel


def inbound_gateway_for(channel: str) -> Gateway:
    """The gateway that parses what a channel's intake stored in the journal."""
    path = INBOUND_GATEWAYS.get(channel)
    if path is None:
        raise LookupError(f"no gateway parses inbound channel {channel!r}")
    return import_string(path)()
