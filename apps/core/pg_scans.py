"""Index scans for "the first N matches of a pattern" (PostgreSQL).

`WHERE UPPER(col) LIKE '%q%' LIMIT N` on a big table has two plans, and PostgreSQL picks by an
estimate that cannot know where the matches lie:
- a bitmap scan of the trigram index: reads the pattern's posting list, then the heap pages of
  the first N matches. Its cost follows the number of matches (7 ms for "len" among 1.2M
  identities, 40,000 matches), whatever the table's order;
- a sequential scan that stops at the N-th match: cheap when matches are common and spread
  from the start of the table (5 ms), but its cost is where the N-th match happens to be. With
  `synchronize_seqscans` (on by default) a scan starts where a concurrent scan of the same table
  is, so under load the same query read 607,000 rows (333 ms), about one request in ten, and
  gave other rows as its first N each time.
Only the first is bounded, so these queries run with sequential scans disabled for their
transaction (the planner still uses one where nothing else can answer) — when the index can
answer: a fragment of fewer than three characters has no trigram, and the trigram index returns
every row for it ("an": all 1.2M identities, 970 ms, against 19 ms for the scan that stops).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

# A trigram is three characters: a shorter fragment cannot be looked up in a trigram index.
TRIGRAM = 3


@contextmanager
def index_scans(*fragments: str) -> Iterator[None]:
    """Inside: no sequential scans where an index can answer (PostgreSQL; elsewhere nothing), or
    nothing either when one of the `fragments` matched with LIKE is too short for a trigram index.

    A transaction of its own in autocommit (the setting ends with it); inside a caller's
    transaction, the caller's setting is restored on the way out."""
    if connection.vendor != "postgresql" or any(len(f) < TRIGRAM for f in fragments):
        yield
        return
    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)")
        previous = cursor.fetchone()[0]
        yield
        if outer:
            cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [previous])
