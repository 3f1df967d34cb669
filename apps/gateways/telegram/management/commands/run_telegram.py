"""`manage.py run_telegram`: long-poll every Telegram inbox in polling mode (getUpdates)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from apps.gateways.telegram.models import TelegramBot
from apps.gateways.telegram.polling import poll_once, supervise


class Command(BaseCommand):
    help = "Long-poll Telegram for the inboxes in polling mode (one poller per bot, wherever it runs)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="one getUpdates round per bot, without waiting")
        parser.add_argument("--timeout", type=int, default=None, help="long-poll seconds (TELEGRAM_POLL_TIMEOUT)")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if opts["once"]:
            for bot in TelegramBot.objects.filter(mode=TelegramBot.Mode.POLLING).order_by("pk"):
                count = poll_once(bot, timeout=opts["timeout"] or 0)
                self.stdout.write(f"{bot}: {count} update(s)")
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("polling Telegram (Ctrl-C to stop)")
        supervise(stop, timeout=opts["timeout"])
