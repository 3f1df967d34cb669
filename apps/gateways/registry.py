"""Which gateway sends for which identity kind."""

from __future__ import annotations

from django.conf import settings

from apps.gateways.base import Gateway


def gateway_for(channel: str) -> Gateway:
    if channel in ("phone", "whatsapp", "sms"):
        if not settings.TWILIO_ACCOUNT_SID:
            from apps.gateways.local import LocalGateway

            return LocalGateway(channel)
        from apps.gateways.twilio.gateway import TwilioGateway

        return TwilioGateway()
    raise LookupError(f"no gateway sends on channel {channel!r}")


def source_for(channel: str) -> str:
    """The status-receipt source of sends on this channel."""
    if channel in ("phone", "whatsapp", "sms"):
        return f"twilio:{settings.TWILIO_ACCOUNT_SID}" if settings.TWILIO_ACCOUNT_SID else "local"
    return channel


def inbound_gateway_for(channel: str) -> Gateway:
    """The gateway that parses what a channel's webhook stored in the journal."""
    if channel == "sms":
        from apps.gateways.twilio.gateway import TwilioGateway

        return TwilioGateway()
    raise LookupError(f"no gateway parses inbound channel {channel!r}")
