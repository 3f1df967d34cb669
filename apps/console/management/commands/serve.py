"""Serve the ASGI app with uvicorn. In embedded mode also run the periodic work in-process."""

import atexit
import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.assignment.services import presence_expire
from apps.bus.jobs import start_jobs_thread
from apps.bus.tasks import events_prune, sweep
from apps.core.runfile import runfile_remove, runfile_write
from apps.gateways.email.embedded import start_imap_polling, start_smtp_listener
from apps.gateways.mastodon.listener import start_listening as start_mastodon_listening
from apps.gateways.telegram.polling import start_polling as start_telegram_polling
from apps.gateways.xmpp.embedded import start_xmpp_if_configured

log = logging.getLogger(__name__)


def periodic_loop(interval: float) -> None:
    """What Celery beat does in production: sweep the bus, expire presence, wake snoozes, prune."""

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


def raise_fd_limit() -> tuple[int, int]:
    """Lift this process's open-file limit to the hard limit: every socket is a file descriptor,
    and distributions start processes at 1024, far below ten thousand idle widget visitors.
    Returns (soft, hard) after the change."""
    try:
        import resource
    except ImportError:  # not on this platform (Windows)
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        log.warning("could not raise the open-file limit from %s to %s", soft, target)
        return soft, hard
    return target, hard


def _remove_runfile_and_die(signum: int, frame: object) -> None:
    runfile_remove()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


class Command(BaseCommand):
    help = "Serve console, widget, API and webhooks (HTTP + WebSocket) with uvicorn."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)

    def _say(self, text: str) -> None:
        """A start-up line: printed for a person, a log record (one JSON line) with LOG_FORMAT=json."""
        if settings.LOG_FORMAT == "json":
            log.info("%s", text)
        else:
            self.stdout.write(text)

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        import uvicorn

        soft, _hard = raise_fd_limit()
        if soft and soft < 16384:
            self._say(f"open-file limit {soft}: at most about {soft - 100} sockets (raise the hard limit)")
        smtp = None
        if settings.CELERY_TASK_ALWAYS_EAGER:
            threading.Thread(target=periodic_loop, args=(5.0,), daemon=True, name="periodic").start()
            self._say("tasks run in-process (no REDIS_URL); periodic work every 5 s")
            start_jobs_thread()  # webhooks and broadcasts, as run_bus does in production
            # Mail in, as run_smtp and beat's IMAP poll do in production (docs/EMAIL.md).

            start_imap_polling()
            if start_telegram_polling() is not None:
                self._say("Telegram inboxes in polling mode are long-polled (as manage.py run_telegram does)")
            if start_mastodon_listening() is not None:
                self._say("Mastodon inboxes are followed live (as manage.py run_mastodon does)")
            smtp = start_smtp_listener()
            if smtp is not None:
                self._say(f"SMTP listener on {settings.SMTP_LISTEN} for @{settings.INBOUND_EMAIL_DOMAIN}")
            # XMPP inboxes' connections, as run_xmpp does in production (docs/xmpp.md).
            if start_xmpp_if_configured() is not None:
                self._say("XMPP connections run in-process (run_xmpp)")
        runfile = runfile_write(host=opts["host"], port=opts["port"])
        if runfile is not None:
            atexit.register(runfile_remove)  # Ctrl-C
            # uvicorn re-raises SIGTERM after its graceful shutdown, with the handler it found
            # installed: this one, which takes the note away and then dies of the signal as usual.
            signal.signal(signal.SIGTERM, _remove_runfile_and_die)
        uvicorn.run(
            "supportdesk.asgi:application",
            host=opts["host"],
            port=opts["port"],
            workers=opts["workers"],
            log_level="warning",
            # uvicorn's lines go through the project's handler (LOG_FORMAT), not a format of its own.
            log_config=None,
            lifespan="off",
            ws_max_size=1 << 20,
            # Tens of thousands of idle widget sockets per process (docs/sockets.md): the
            # sans-I/O protocol runs no task of its own per socket, keepalive pings every 60 s,
            # and no permessage-deflate (its zlib state costs tens of KiB per socket).
            ws="websockets-sansio",
            ws_ping_interval=60.0,
            ws_ping_timeout=30.0,
            ws_per_message_deflate=False,
            backlog=4096,
            # Longer than the load balancer's idle timeout (settings.HTTP_KEEPALIVE_SECONDS).
            timeout_keep_alive=settings.HTTP_KEEPALIVE_SECONDS,
            # Open console sockets must not hold a deploy (or `docker stop`) hostage.
            timeout_graceful_shutdown=10,
        )
        runfile_remove()
        if smtp is not None:
            smtp.stop()
