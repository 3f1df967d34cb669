"""Serve the ASGI app with uvicorn. In embedded mode also run the periodic work in-process."""

import logging
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

log = logging.getLogger(__name__)


def periodic_loop(interval: float) -> None:
    """What Celery beat does in production: sweep the bus, expire presence, wake snoozes, prune."""
    from apps.assignment.services import presence_expire
    from apps.bus.tasks import events_prune, sweep

    last_prune = 0.0
    while True:
        time.sleep(interval)
        try:
            sweep()
            presence_expire()
            if time.monotonic() - last_prune > 3600:
                events_prune()
                last_prune = time.monotonic()
        except Exception:  # noqa: BLE001
            log.exception("periodic work failed")
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Serve console, widget, API and webhooks (HTTP + WebSocket) with uvicorn."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        import uvicorn

        smtp = None
        if settings.CELERY_TASK_ALWAYS_EAGER:
            threading.Thread(target=periodic_loop, args=(5.0,), daemon=True, name="periodic").start()
            self.stdout.write("tasks run in-process (no REDIS_URL); periodic work every 5 s")
            # Mail in, as run_smtp and beat's IMAP poll do in production (docs/EMAIL.md).
            from apps.gateways.email.embedded import start_imap_polling, start_smtp_listener

            start_imap_polling()
            smtp = start_smtp_listener()
            if smtp is not None:
                self.stdout.write(f"SMTP listener on {settings.SMTP_LISTEN} for @{settings.INBOUND_EMAIL_DOMAIN}")
        uvicorn.run(
            "supportdesk.asgi:application",
            host=opts["host"],
            port=opts["port"],
            workers=opts["workers"],
            log_level="warning",
            lifespan="off",
            ws_max_size=1 << 20,
            # Open console sockets must not hold a deploy (or `docker stop`) hostage.
            timeout_graceful_shutdown=10,
        )
        if smtp is not None:
            smtp.stop()
