"""The unread tally's upkeep (UnreadTally, migration 0012): its rows folded into one per key.

The trigger adds a row for each change (a new message, an assignment, a resolve), so that
writers never wait on each other; left alone the table would grow by one row per message. Each
bus sweep folds it: one statement deletes the rows it sees and writes their sums back, one row
per key (inbox, assignee, agent), none for a key whose sums are all zero. Rows that writers add meanwhile
are not seen, so not deleted, and stay for the next fold; two folds at once each fold only the
rows they deleted. Readers see the rows before or after the fold, never half of it: the sums
are the same.
"""

from __future__ import annotations

from django.db import connection

FOLD = """
WITH gone AS (
    DELETE FROM conversations_unreadtally
    RETURNING inbox_id, assignee_id, agent_id, messages, conversations, noise
)
INSERT INTO conversations_unreadtally (inbox_id, assignee_id, agent_id, messages, conversations, noise)
SELECT inbox_id, assignee_id, agent_id, sum(messages), sum(conversations), sum(noise)
FROM gone
GROUP BY inbox_id, assignee_id, agent_id
HAVING sum(messages) <> 0 OR sum(conversations) <> 0 OR sum(noise) <> 0
"""

# Nothing to fold when every key has one row and none sums to zero.
NEEDS_FOLD = """
SELECT EXISTS (
    SELECT 1 FROM conversations_unreadtally
    GROUP BY inbox_id, assignee_id, agent_id
    HAVING count(*) > 1 OR (sum(messages) = 0 AND sum(conversations) = 0 AND sum(noise) = 0)
)
"""


def unread_tally_fold() -> int:
    """Fold the tally's rows (a bus sweep). Returns how many rows it holds after; 0 on SQLite,
    where there is no tally."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(NEEDS_FOLD)
        if cursor.fetchone()[0]:
            cursor.execute(FOLD)
        cursor.execute("SELECT count(*) FROM conversations_unreadtally")
        return int(cursor.fetchone()[0])
