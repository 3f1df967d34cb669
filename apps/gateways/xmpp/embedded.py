"""XMPP for the embedded default (`make run` = `manage.py serve` with in-process tasks): the
connections of `run_xmpp` on a thread of the server process, when an XMPP account exists."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from apps.gateways.xmpp.models import XmppAccount
from apps.gateways.xmpp.runner import run_in_thread

log = logging.getLogger(__name__)


def start_xmpp_if_configured() -> threading.Event | None:
    """Start the connections' thread; returns the event that stops it (None: not started).
    An account added later is picked up by the running thread (it reads the accounts again
    every 30 s), but the first one needs a restart of the server."""
    if not settings.XMPP_EMBEDDED:
        return None
    try:
        if not XmppAccount.objects.filter(enabled=True).exists():
            return None
    except Exception:  # noqa: BLE001 - not migrated yet: the server runs on without XMPP
        log.warning("XMPP accounts could not be read; XMPP is not started", exc_info=True)
        return None
    stop = threading.Event()
    run_in_thread(stop)
    return stop
