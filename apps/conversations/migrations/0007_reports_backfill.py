"""Backfill the reports' facts (migration 0006) from the messages already stored.

- first_response_at: the first message an agent sent (outbound, kind message, with a sender)
  at or after the customer's first message; first_response_seconds: the time between the two.
- resolved_at (resolved conversations only): the newest "… resolved this" activity, or the last
  activity when there is none (conversations resolved before activities were written).

Batches of BATCH conversation ids, each its own transaction (`atomic = False`), so that a big
desk is not locked for the whole backfill and an interrupted run resumes where it stopped (rows
already filled are skipped). SQLite (embedded, small) takes the same statements without
UPDATE … FROM. On PostgreSQL the table is vacuumed and analysed at the end.
"""

from typing import Any

from django.db import migrations, transaction

BATCH = 20_000

FIRST_RESPONSE_PG = """
UPDATE conversations_conversation c
SET first_response_at = r.answered,
    first_response_seconds = GREATEST(0, EXTRACT(EPOCH FROM r.answered - r.first_in))::int
FROM (
    SELECT f.conversation_id, f.first_in,
           (SELECT min(m.created_at) FROM conversations_message m
            WHERE m.conversation_id = f.conversation_id AND m.direction = 'out' AND m.kind = 'message'
              AND m.sender_id IS NOT NULL AND m.created_at >= f.first_in) AS answered
    FROM (SELECT conversation_id, min(created_at) AS first_in FROM conversations_message
          WHERE conversation_id >= %s AND conversation_id < %s AND direction = 'in' AND kind = 'message'
          GROUP BY conversation_id) f
) r
WHERE c.id = r.conversation_id AND r.answered IS NOT NULL AND c.first_response_at IS NULL
"""

FIRST_IN_SQL = """(SELECT min(m.created_at) FROM conversations_message m WHERE m.conversation_id = c.id
    AND m.direction = 'in' AND m.kind = 'message')"""
ANSWERED_SQL = f"""(SELECT min(m.created_at) FROM conversations_message m WHERE m.conversation_id = c.id
    AND m.direction = 'out' AND m.kind = 'message' AND m.sender_id IS NOT NULL
    AND m.created_at >= {FIRST_IN_SQL})"""
FIRST_RESPONSE_SQLITE = f"""
UPDATE conversations_conversation AS c
SET first_response_at = {ANSWERED_SQL},
    first_response_seconds = max(0, CAST(round((julianday({ANSWERED_SQL}) - julianday({FIRST_IN_SQL})) * 86400) AS integer))
WHERE c.id >= %s AND c.id < %s AND c.first_response_at IS NULL AND {ANSWERED_SQL} IS NOT NULL
"""

RESOLVED = """
UPDATE conversations_conversation
SET resolved_at = COALESCE(
    (SELECT max(m.created_at) FROM conversations_message m
     WHERE m.conversation_id = conversations_conversation.id AND m.kind = 'activity'
       AND m.body LIKE '%% resolved this'),
    last_activity_at)
WHERE id >= %s AND id < %s AND status = 'resolved' AND resolved_at IS NULL
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    first_response = FIRST_RESPONSE_PG if connection.vendor == "postgresql" else FIRST_RESPONSE_SQLITE
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM conversations_conversation")
        low, high = cursor.fetchone()
    if low is None:
        return
    for start in range(low, high + 1, BATCH):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(first_response, [start, start + BATCH])
            cursor.execute(RESOLVED, [start, start + BATCH])
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Every row was rewritten: without a vacuum the reports' index-only scans visit the heap
        # (and the planner's statistics are stale) until autovacuum comes round.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) conversations_conversation")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0006_reports_facts"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
