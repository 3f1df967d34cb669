"""`manage.py run_mastodon`: follow every Mastodon inbox's stream, with notification backfills."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from apps.gateways.mastodon.listener import account_introduce, backfill, supervise
from apps.gateways.mastodon.models import MastodonAccount


class Command(BaseCommand):
    help = (
        "Listen to Mastodon (the streaming API, one listener per account wherever it runs), "
        "backfilling from the notifications API after every reconnect and periodically."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="one backfill per account, then exit")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if opts["once"]:
            for account in MastodonAccount.objects.order_by("pk"):
                account_introduce(account)
                count = backfill(account)
                self.stdout.write(f"{account}: {count} new mention(s)")
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("listening to Mastodon (Ctrl-C to stop)")
        supervise(stop)
