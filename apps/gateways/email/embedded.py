"""Mail in for the embedded default (`make run` = `manage.py serve` with in-process tasks): the
SMTP listener and IMAP polling on threads of the server process, as `run_smtp` and Celery beat
do in production."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from apps.gateways.email.imap import imap_poll_all
from apps.gateways.email.smtp import ListenerThread, parse_listen

log = logging.getLogger(__name__)


def imap_poll_loop(interval: float) -> None:

    while True:
        try:
            imap_poll_all()
        except Exception:  # noqa: BLE001 - keep polling; the next round may work
            log.exception("IMAP polling failed")
        finally:
            close_old_connections()
        time.sleep(interval)


def start_imap_polling() -> threading.Thread:
    thread = threading.Thread(target=imap_poll_loop, args=(settings.IMAP_POLL_SECONDS,), daemon=True, name="imap-poll")
    thread.start()
    return thread


def start_smtp_listener():  # type: ignore[no-untyped-def]
    """The listener on SMTP_LISTEN when INBOUND_EMAIL_DOMAIN is set; None (and a log line) when
    it is not, or when the address is taken (the HTTP server runs on regardless)."""

    if not settings.INBOUND_EMAIL_DOMAIN:
        return None
    try:
        host, port = parse_listen(settings.SMTP_LISTEN)
        return ListenerThread(host=host, port=port, domain=settings.INBOUND_EMAIL_DOMAIN).start()
    except (OSError, ValueError) as exc:
        log.error("SMTP listener not started on %s: %s", settings.SMTP_LISTEN, exc)
        return None
