"""Celery tasks of the conversations app. Each takes ids, re-reads state and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.conversations.media import attachment_fetch
from apps.gateways.base import TransientSendError

MAX_FETCH_RETRIES = 6


@shared_task(bind=True, name="apps.conversations.tasks.attachment_fetch_task", max_retries=MAX_FETCH_RETRIES)
def attachment_fetch_task(self, attachment_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return attachment_fetch(attachment_id=attachment_id)
    except TransientSendError as exc:
        if self.request.is_eager or self.request.retries >= MAX_FETCH_RETRIES:
            return "pending"
        raise self.retry(exc=exc, countdown=min(5 * 2**self.request.retries, 600))
