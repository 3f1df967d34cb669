"""`manage.py run_xmpp`: the XMPP inboxes' connections (apps.gateways.xmpp.runner)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from django.core.management.base import BaseCommand

from apps.gateways.xmpp.runner import XmppRunner

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Keep one XMPP connection per XMPP inbox: messages in (with archive catch-up), replies out."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--reload-seconds", type=float, default=30.0, help="how often the account list is read again"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        stop = threading.Event()
        runner = XmppRunner(stop=stop, reload_seconds=options["reload_seconds"])

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await runner.run()

        log.info("run_xmpp: starting")
        asyncio.run(main())
        log.info("run_xmpp: stopped")
