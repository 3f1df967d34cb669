"""Celery tasks of the bus. Each takes ids, re-reads state and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.bus import services

log = logging.getLogger(__name__)

MAX_INBOUND_RETRIES = 10


@shared_task(bind=True, name="apps.bus.tasks.process_inbound", max_retries=MAX_INBOUND_RETRIES)
def process_inbound(self, entry_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return services.inbound_process(entry_id=entry_id)
    except Exception as exc:
        give_up = self.request.retries >= MAX_INBOUND_RETRIES
        log.exception("processing inbound entry %s failed (try %s)", entry_id, self.request.retries)
        services.inbound_record_failure(entry_id=entry_id, error=repr(exc), give_up=give_up)
        if give_up or self.request.is_eager:
            return "failed" if give_up else "pending"
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60))


@shared_task(name="apps.bus.tasks.deliver_message")
def deliver_message(message_id: int) -> str:
    return services.outbox_deliver(message_id=message_id)


@shared_task(bind=True, name="apps.bus.tasks.fetch_attachment", max_retries=6)
def fetch_attachment(self, attachment_id: int) -> str:  # type: ignore[no-untyped-def]
    from apps.conversations.media import attachment_fetch
    from apps.gateways.base import TransientSendError

    try:
        return attachment_fetch(attachment_id=attachment_id)
    except TransientSendError as exc:
        if self.request.is_eager or self.request.retries >= 6:
            return "pending"
        raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 600))


@shared_task(name="apps.bus.tasks.sweep")
def sweep() -> dict:
    from apps.conversations.services import conversations_wake_snoozed

    result = services.bus_sweep()
    result["woken"] = conversations_wake_snoozed()
    try:  # the widget's unread replies, mailed once (apps.widget.offline); never stops the bus sweep
        from apps.widget.offline import offline_email_sweep

        offline_email_sweep()
    except Exception:  # noqa: BLE001
        log.exception("widget offline email sweep failed")
    return result


@shared_task(name="apps.bus.tasks.events_prune")
def events_prune() -> int:
    return services.events_prune()
