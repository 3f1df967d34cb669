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


@shared_task(name="apps.bus.tasks.sweep")
def sweep() -> dict:
    return services.bus_sweep()


@shared_task(name="apps.bus.tasks.events_prune")
def events_prune() -> int:
    return services.events_prune()
