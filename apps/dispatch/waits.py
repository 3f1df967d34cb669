"""Waits recorded when the queue hands a conversation to an agent (for expected waits)."""

from __future__ import annotations

import datetime as dt

from apps.core import rawsql
from apps.dispatch.models import QueueWait


def wait_sample(
    *, inbox_id: int, team_id: int | None, waiting_since: dt.datetime | None, now: dt.datetime
) -> QueueWait:
    waited = max(0, int((now - waiting_since).total_seconds())) if waiting_since else 0
    return QueueWait(inbox_id=inbox_id, team_id=team_id, waited_seconds=waited, assigned_at=now)


def waits_record(samples: list[QueueWait]) -> None:
    if samples:
        QueueWait.objects.bulk_create(samples)


def waits_statement(samples: list[QueueWait]) -> rawsql.Statement:
    """`waits_record` as one statement for a caller's round trip (PostgreSQL; apps.core.rawsql)."""
    return rawsql.insert_many_statement(samples)
