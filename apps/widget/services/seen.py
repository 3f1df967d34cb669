"""Seen receipts, and whether a visitor is there (socket presence in the cache)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.cache import cache

from apps.bus.services import status_receipt_record
from apps.conversations.models import Message
from apps.gateways.base import DeliveryStatus
from apps.widget.models import Visitor
from apps.widget.services.visibility import visitor_conversation_ids

log = logging.getLogger("apps.widget.services")

# --- seen, and whether the visitor is there -------------------------------------------------

SOCKET_PRESENCE_TTL = 120  # seconds; a visitor socket refreshes it with every heartbeat


def _presence_key(visitor_id: int) -> str:
    return f"widget-visitor-socket:{visitor_id}"


def visitor_socket_touch(visitor_id: int) -> None:
    """A socket of this visitor is connected (call on admission and with each heartbeat)."""
    try:
        cache.set(_presence_key(visitor_id), 1, SOCKET_PRESENCE_TTL)
    except Exception:  # noqa: BLE001 - presence is a hint; the delayed sweep still emails
        log.warning("widget presence cache unavailable", exc_info=True)


def visitor_socket_gone(visitor_id: int) -> None:
    """The visitor's socket closed (another tab may still be open: the sweep's delay covers it)."""
    try:
        cache.delete(_presence_key(visitor_id))
    except Exception:  # noqa: BLE001
        log.warning("widget presence cache unavailable", exc_info=True)


def visitor_socket_connected(visitor_id: int) -> bool:
    try:
        return bool(cache.get(_presence_key(visitor_id)))
    except Exception:  # noqa: BLE001
        return False


def visitor_messages_seen(*, visitor: Visitor, messages: Sequence[Message]) -> int:
    """Agent replies the visitor has now received (history fetched, or pushed to their socket):
    sent -> delivered. Returns how many moved. The offline email is then not needed."""

    moved = 0
    for message in messages:
        if (
            message.direction == Message.Direction.OUTBOUND
            and message.kind == Message.Kind.MESSAGE
            and message.status == Message.Status.SENT
            and message.provider_id
        ):
            moved += bool(
                status_receipt_record(
                    source="widget",
                    status=DeliveryStatus(provider_message_id=message.provider_id, status=Message.Status.DELIVERED),
                    payload={"visitor": visitor.public_id},
                )
            )
    return moved


def visitor_message_ids_seen(*, visitor: Visitor, message_ids: Sequence[int]) -> int:
    """The socket's form of `visitor_messages_seen`: by id, only this visitor's conversations."""
    ids = visitor_conversation_ids(visitor)
    rows = list(
        Message.objects.filter(
            pk__in=list(message_ids),
            conversation_id__in=ids,
            direction=Message.Direction.OUTBOUND,
            status=Message.Status.SENT,
        )
    )
    return visitor_messages_seen(visitor=visitor, messages=rows)
