"""Celery tasks of the widget. Each takes ids, re-reads state and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.widget import offline


@shared_task(name="apps.widget.tasks.offline_email")
def offline_email(message_id: int, force: bool = False) -> str:
    return offline.offline_email_send(message_id=message_id, force=force)
