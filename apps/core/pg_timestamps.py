"""timestamptz values read by psycopg's C loader on UTC connections (issue 14).

Django registers its own timestamptz loader on every PostgreSQL connection: a subclass of
psycopg's pure-Python loader (a regular expression per value) that then replaces the tzinfo
with the connection's Django time zone. It cost ~3-5 µs a value against ~0.3 µs for psycopg's
C loader; a list page of 50 conversations reads ~300 timestamps (1.5 ms of a ~8 ms page).

When Django's time zone for the connection is UTC (USE_TZ, no per-database TIME_ZONE: this
project's settings) and the session's TimeZone is UTC (Django sets it on connect), psycopg's C
loader returns the same values: datetimes with tzinfo `datetime.UTC`, the one Django's loader
puts there. `use_c_timestamptz_loader` registers a loader that delegates to it; a loader made
while the session's TimeZone is not UTC (someone ran SET TIME ZONE) loads as Django's does. Any
other connection (another time zone, USE_TZ off, not PostgreSQL) is left as Django made it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg import postgres
from psycopg.abc import AdaptContext
from psycopg.abc import Loader as LoaderABC
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ_OID = postgres.types["timestamptz"].oid
# psycopg's default text loader: the C one with psycopg[binary] (the Python one otherwise, still
# without Django's extra replace).
_FAST: type[LoaderABC] = postgres.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) or TimestamptzLoader


class _DjangoUtcLoader(BaseTzLoader):
    """Django's own loader for a UTC connection (register_tzloader(datetime.UTC, …))."""

    timezone = dt.UTC


class UtcTimestamptzLoader(Loader):
    """timestamptz as Django's loader gives it on a UTC connection, parsed by psycopg's C loader.

    `timezone` is what Django's cursor checks (DatabaseWrapper.create_cursor) before it would
    register its own loader again."""

    timezone = dt.UTC

    def __init__(self, oid: int, context: AdaptContext | None = None):
        super().__init__(oid, context)
        pgconn = self.connection.pgconn if self.connection else None
        utc = pgconn is not None and pgconn.parameter_status(b"TimeZone") == b"UTC"
        self._inner = (_FAST if utc else _DjangoUtcLoader)(oid, context)
        # psycopg's row loop calls `load` once per value: the inner loader's own (C) method.
        self.load = self._inner.load  # type: ignore[method-assign]

    def load(self, data: Any) -> Any:
        return self._inner.load(data)


def use_c_timestamptz_loader(connection: BaseDatabaseWrapper) -> bool:
    """Register UtcTimestamptzLoader on a new PostgreSQL connection of Django's whose time zone
    is UTC (also its session's); True if it is (now) registered."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return False
    if connection.timezone is not dt.UTC:  # type: ignore[attr-defined]
        return False
    pg = connection.connection
    if pg.info.parameter_status("TimeZone") != "UTC":
        return False
    if pg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not UtcTimestamptzLoader:
        pg.adapters.register_loader(TIMESTAMPTZ_OID, UtcTimestamptzLoader)
    return True


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    use_c_timestamptz_loader(connection)
