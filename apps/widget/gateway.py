"""The widget's send side: `SEND_GATEWAYS["widget"]`.

There is nothing to transmit: the visitor's socket gets the reply from the event log (and a
visitor who comes back later, from the history). "Sending" therefore records the reply as sent
and, when the visitor left an email address and no socket of theirs is connected, hands it to
the offline email (apps.widget.offline), which mails it once.
"""

from __future__ import annotations

from django.db import transaction

from apps.gateways.base import DeliveryStatus, Gateway, InboundMessage, OutboundMessage, Payload, SendResult
from apps.widget.tasks import offline_email


def widget_provider_id(message_id: int) -> str:
    return f"widget-out:{message_id}"


class WidgetGateway(Gateway):
    channel = "widget"

    def verify(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False  # nothing comes in through a webhook: visitors use the widget API

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        return []

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        return []

    def send(self, outbound: OutboundMessage) -> SendResult:

        message_id = outbound.message_id
        # After commit (or at once outside a transaction): the task re-reads everything.
        transaction.on_commit(lambda: offline_email.delay(message_id, False))
        return SendResult(provider_message_id=widget_provider_id(message_id), status="sent")
