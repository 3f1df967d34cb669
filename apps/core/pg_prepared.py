"""Prepared statements for the hottest reads (PostgreSQL; issue 14).

PostgreSQL plans a statement every time it is sent, unless it was prepared. A console list page
at 1M conversations plans for 3.5-6 ms and runs for 1.3-1.7 ms: at a hundred pages a second,
planning alone is most of a core on a 2-core machine. Django sends its statements with their
values in the text (psycopg's client-side binding) and never prepares them. `prepared_cursor`
gives a cursor of the same connection that sends values apart from the text (server-side
binding) and prepares every statement it runs: the first run of a text on a connection prepares
it, later runs only execute, and after five PostgreSQL may keep one generic plan and stop
planning (plan_cache_mode auto: only when that plan is not costed higher than the custom ones).

Only for statements whose text is built once and rerun with other values (the list's page SQL,
apps.api.selectors._page_rows): a text seen once would only fill the connection's cache
(psycopg keeps 100 per connection). Off with DATABASE_PREPARE=0, for a connection pooler in
transaction mode that cannot keep a session's prepared statements.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

_ONLY_WHEN_ASKED = 2**62


class _PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """psycopg's server-side binding cursor, preparing whatever it executes."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


def prepared_cursor(connection: BaseDatabaseWrapper) -> Any:
    """A cursor of `connection` that prepares its statements, wrapped as Django wraps its own
    (errors, query logging, execute wrappers); Django's own cursor when not on PostgreSQL or
    DATABASE_PREPARE is off. Use it as a context manager."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARE:
        return connection.cursor()
    connection.ensure_connection()
    pg = connection.connection
    if pg.prepare_threshold is None:
        # Django turns psycopg's preparing off (None), which `prepare=True` cannot override; a
        # threshold never reached prepares only what asks for it (Django's own cursors bind on
        # the client and never prepare).
        pg.prepare_threshold = _ONLY_WHEN_ASKED
    raw: Any = _PreparingCursor(pg)
    return _DebugCursor(raw, connection) if connection.queries_logged else connection.make_cursor(raw)


class _DebugCursor(CursorDebugWrapper):
    """Django's query log (DEBUG, tests' query counts) with the statement as it ran, its values
    written in: Django reads that from a client-side binding cursor, which this is not."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        text = self.db.ops.compose_sql(sql, params) if params is not None else sql
        with self.debug_sql(text, params):
            return CursorWrapper.execute(self, sql, params)
