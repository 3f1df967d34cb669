"""What happened to a reply after it was queued, recorded on the message.

The bus owns the outbox and the status receipts; it calls `DeliveryRecorder` (registered in
`ConversationsConfig.ready()`) inside its own transaction to write the message's side: the
provider id, the status (forward only), the error in words, and the event the consoles get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from apps.bus.events import EventType
from apps.contacts.models import Identity
from apps.contacts.services import identity_set_opt_out
from apps.conversations.events import emit_message, error_in_words
from apps.conversations.models import Message
from apps.gateways.base import DeliveryStatus

# Forward-only delivery status: a callback may only move a message up this ladder.
STATUS_RANK = {
    Message.Status.RECEIVED: 0,
    Message.Status.QUEUED: 1,
    Message.Status.SENDING: 2,
    Message.Status.SENT: 3,
    Message.Status.DELIVERED: 4,
    Message.Status.UNDELIVERED: 4,
    Message.Status.FAILED: 4,
    Message.Status.READ: 5,
}


def status_advance(message: Message, status: str, error_code: str = "", error_text: str = "") -> bool:
    """Move the message's status forward to `status`; False when it is not ahead."""
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(message.status, -1):  # type: ignore[call-overload]
        return False
    message.status = status
    if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
        message.error_code = error_code
        message.error_message = error_in_words(error_code, error_text)[:500]
    return True


def _opt_out_from_error(message: Message, code: str) -> None:
    if code == "21610" and message.identity_id:
        identity = Identity.objects.get(pk=message.identity_id)
        identity_set_opt_out(identity=identity, opted_out=True)


@transaction.atomic
def message_record_sent(
    *, message_id: int, provider_id: str, status: str, receipts: Sequence[DeliveryStatus] = ()
) -> Message:
    """The provider accepted the send: its id, its status, and callbacks that raced ahead."""
    message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
    message.provider_id = provider_id
    status_advance(message, status)
    for receipt in receipts:
        status_advance(message, receipt.status, receipt.error_code, receipt.error_message)
    message.save(update_fields=["provider_id", "status", "error_code", "error_message", "updated_at"])
    emit_message(message, EventType.MESSAGE_UPDATED)
    return message


@transaction.atomic
def message_record_failed(*, message_id: int, code: str, text: str) -> Message:
    """The send failed for good (refused, bounced, or given up on): show it in words."""
    message = Message.objects.select_for_update(no_key=True).get(pk=message_id)
    message.status = Message.Status.FAILED
    message.error_code = code
    message.error_message = error_in_words(code, text)[:500]
    message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    _opt_out_from_error(message, code)
    emit_message(message, EventType.MESSAGE_UPDATED)
    return message


def message_record_statuses(*, provider_message_id: str, receipts: Sequence[DeliveryStatus]) -> bool | None:
    """Apply delivery receipts in order; None when no message has this provider id yet."""
    message = Message.objects.select_for_update(no_key=True).filter(provider_id=provider_message_id).first()
    if message is None:
        return None
    changed = False
    for receipt in receipts:
        if status_advance(message, receipt.status, receipt.error_code, receipt.error_message):
            changed = True
            if receipt.status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
                _opt_out_from_error(message, receipt.error_code)
    if changed:
        message.save(update_fields=["status", "error_code", "error_message", "updated_at"])
        emit_message(message, EventType.MESSAGE_UPDATED)
    return changed


def message_record_statuses_many(receipts: Mapping[str, Sequence[DeliveryStatus]]) -> dict[str, bool | None]:
    """`message_record_statuses` for many provider ids at once (the bus's receipt drain): one
    locking read for all the messages, one UPDATE for those whose status moved, their events."""
    messages = list(
        Message.objects.select_for_update(no_key=True, of=("self",))
        .filter(provider_id__in=list(receipts))
        .prefetch_related(Prefetch("attachments"))
        .order_by("id")
    )
    found: dict[str, bool | None] = dict.fromkeys(receipts)
    changed: list[Message] = []
    for message in messages:
        moved = False
        for receipt in receipts[message.provider_id or ""]:
            if status_advance(message, receipt.status, receipt.error_code, receipt.error_message):
                moved = True
                if receipt.status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
                    _opt_out_from_error(message, receipt.error_code)
        found[message.provider_id or ""] = moved
        if moved:
            message.updated_at = timezone.now()
            changed.append(message)
    if changed:
        Message.objects.bulk_update(changed, ["status", "error_code", "error_message", "updated_at"])
        for message in changed:
            emit_message(message, EventType.MESSAGE_UPDATED)
    return found


class DeliveryRecorder:
    """The conversations app's side of the bus's outbox (apps.bus.registry.DeliveryRecorder)."""

    def sent(self, *, message_id: int, provider_id: str, status: str, receipts: Sequence[DeliveryStatus]) -> None:
        message_record_sent(message_id=message_id, provider_id=provider_id, status=status, receipts=receipts)

    def failed(self, *, message_id: int, code: str, text: str) -> None:
        message_record_failed(message_id=message_id, code=code, text=text)

    def statuses(self, *, provider_message_id: str, receipts: Sequence[DeliveryStatus]) -> bool | None:
        return message_record_statuses(provider_message_id=provider_message_id, receipts=receipts)

    def statuses_many(self, receipts: Mapping[str, Sequence[DeliveryStatus]]) -> dict[str, bool | None]:
        return message_record_statuses_many(receipts)
