"""The local outbox: where sends go when no provider credentials are configured.

Nothing leaves the machine and nothing is lost: each send is a `LocalOutboxSend` row an admin
can read, and the message gets a simulated `delivered` status through the same status path a
real provider callback takes.
"""

from __future__ import annotations

import uuid

from apps.gateways.base import (
    DeliveryStatus,
    Gateway,
    InboundMessage,
    OutboundMessage,
    Payload,
    SendResult,
)
from apps.gateways.models import LocalOutboxSend

LOCAL_SOURCE = "local"


class LocalGateway(Gateway):
    channel = "local"
    simulates_delivery = True

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def verify(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        return []

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        return []

    def send(self, outbound: OutboundMessage) -> SendResult:
        # Idempotent per message: a retried send finds the row it wrote before.
        row = LocalOutboxSend.objects.filter(message_id=outbound.message_id).first()
        if row is None:
            row = LocalOutboxSend.objects.create(
                channel=outbound.channel,
                to=outbound.to,
                sender=outbound.sender,
                body=outbound.body,
                media=list(outbound.media_urls),
                message_id=outbound.message_id,
                provider_id="LO" + uuid.uuid4().hex,
            )
        return SendResult(provider_message_id=row.provider_id, status="sent")
