"""`manage.py run_bus`: the bus worker — drains the inbound journal, sends the outbox."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.bus.worker import BusWorker

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Drain the inbound journal and send the outbox (run one or more next to the web processes)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--no-drain", action="store_true", help="do not process inbound messages")
        parser.add_argument("--no-send", action="store_true", help="do not send queued replies")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError(
                "TASKS_EAGER is on (no REDIS_URL): the web process handles the bus itself; run_bus is for production"
            )
        worker = BusWorker(drain=not options["no_drain"], send=not options["no_send"])
        log.info(
            "bus worker up: drain=%s send=%s batch=%s send threads=%s",
            not options["no_drain"],
            not options["no_send"],
            settings.BUS_BATCH_SIZE,
            settings.BUS_SEND_THREADS,
        )
        worker.run_forever()
