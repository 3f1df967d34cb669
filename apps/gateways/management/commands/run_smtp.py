"""`manage.py run_smtp`: the inbound SMTP listener (docs/EMAIL.md §1), until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.gateways.email.smtp import SmtpListener, parse_listen


class Command(BaseCommand):
    help = "Receive mail for INBOUND_EMAIL_DOMAIN over SMTP on SMTP_LISTEN (aiosmtpd)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--listen", default=None, help="host:port (default: SMTP_LISTEN)")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if not settings.INBOUND_EMAIL_DOMAIN:
            raise CommandError("Set INBOUND_EMAIL_DOMAIN: the listener takes mail for that domain only.")
        try:
            host, port = parse_listen(opts["listen"] or settings.SMTP_LISTEN)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # aiosmtpd logs every command at INFO; ours say what matters.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        logging.getLogger("apps.gateways.email").setLevel(logging.INFO)
        asyncio.run(self._serve(host, port))

    async def _serve(self, host: str, port: int) -> None:
        listener = SmtpListener(host=host, port=port, domain=settings.INBOUND_EMAIL_DOMAIN)
        try:
            await listener.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await listener.stop()
