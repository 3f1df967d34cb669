"""Celery tasks of mail in: beat's IMAP poll (every IMAP_POLL_SECONDS), one task per inbox so
that one slow mail server does not hold up the others."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings

from apps.gateways.email import imap


@shared_task(name="apps.gateways.email.tasks.imap_poll")
def imap_poll() -> int:
    inbox_ids = imap.imap_inbox_ids()
    for inbox_id in inbox_ids:
        # A poll that has not started by the next one is useless: let it expire.
        imap_poll_inbox.apply_async((inbox_id,), expires=max(settings.IMAP_POLL_SECONDS, 10.0))
    return len(inbox_ids)


@shared_task(name="apps.gateways.email.tasks.imap_poll_inbox")
def imap_poll_inbox(inbox_id: int) -> dict[str, Any]:
    result = asdict(imap.imap_poll_inbox(inbox_id=inbox_id))
    result.pop("uids", None)
    return result
