"""Celery tasks of the bus: the periodic sweep and the pruning of the event log (beat). The
journal and the outbox are worked by the bus worker (`manage.py run_bus`), not by tasks."""

from __future__ import annotations

from celery import shared_task

from apps.bus import services


@shared_task(name="apps.bus.tasks.sweep")
def sweep() -> dict:
    return services.bus_sweep()


@shared_task(name="apps.bus.tasks.events_prune")
def events_prune() -> int:
    return services.events_prune()
