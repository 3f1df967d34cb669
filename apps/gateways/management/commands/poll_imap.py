"""`manage.py poll_imap`: poll the IMAP mailboxes of email inboxes once (what beat does every
IMAP_POLL_SECONDS), or every IMAP_POLL_SECONDS with --loop."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.gateways.email.imap import imap_inbox_ids, imap_poll_inbox


class Command(BaseCommand):
    help = "Poll the IMAP mailboxes of email inboxes with IMAP enabled."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--inbox", type=int, action="append", help="only this inbox id (repeatable)")
        parser.add_argument("--loop", action="store_true", help="poll again every IMAP_POLL_SECONDS")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        while True:
            for inbox_id in opts["inbox"] or imap_inbox_ids():
                result = imap_poll_inbox(inbox_id=inbox_id)
                status = result.skipped or result.error or "ok"
                self.stdout.write(
                    f"inbox {inbox_id} {result.folder or '-'}: {result.stored} new, {result.duplicates} already had, "
                    f"{result.too_big} too big{' (rescanned)' if result.rescanned else ''} - {status}"
                )
            close_old_connections()
            if not opts["loop"]:
                return
            time.sleep(settings.IMAP_POLL_SECONDS)
