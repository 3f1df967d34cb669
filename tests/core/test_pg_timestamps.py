"""psycopg's C timestamptz loader on UTC connections gives what Django's own loader gives
(apps/core/pg_timestamps.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from apps.core.pg_timestamps import TIMESTAMPTZ_OID, UtcTimestamptzLoader, use_c_timestamptz_loader
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]

VALUES = [
    "2026-12-06 10:11:12.123456+00",
    "2026-12-06 10:11:12+00",  # no fraction
    "2026-12-06 10:11:12.5+00",  # a short fraction
    "2026-12-06 10:11:12.000001+00",
    "2026-06-30 23:59:59.999999+05:30",  # written with an offset: read back in UTC
    "2026-03-29 01:30:00-07",
    "1970-01-01 00:00:00+00",
    "1900-02-28 12:00:00+00",
    "0001-01-01 00:00:00+00",  # the smallest datetime
    "9999-12-31 23:59:59.999999+00",  # the largest
]


def _load(values: list[str | None], *, django_loader: bool) -> list[dt.datetime | None]:
    with connection.cursor() as cursor:
        if django_loader:
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute("SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", [values])
        return [row[0] for row in cursor.fetchall()]


def _loader_class() -> type:
    connection.ensure_connection()
    return connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


def test_a_utc_connection_reads_timestamps_with_the_c_loader():
    assert connection.timezone is dt.UTC
    assert _loader_class() is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        # Django's cursor saw a loader of its time zone and registered none of its own.
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is UtcTimestamptzLoader


def test_values_are_the_ones_djangos_loader_gives():
    fast = _load([*VALUES, None], django_loader=False)
    django = _load([*VALUES, None], django_loader=True)
    assert fast == django
    assert fast[-1] is None
    assert all(value.tzinfo is dt.UTC for value in fast[:-1])
    assert [value.isoformat() for value in fast[:-1]] == [value.isoformat() for value in django[:-1]]
    assert fast[0] == dt.datetime(2026, 12, 6, 10, 11, 12, 123456, tzinfo=dt.UTC)
    assert fast[2].microsecond == 500000
    assert fast[4] == dt.datetime(2026, 6, 30, 18, 29, 59, 999999, tzinfo=dt.UTC)
    assert fast[9] == dt.datetime.max.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("value", ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"])
def test_values_python_cannot_hold_are_refused_as_by_djangos_loader(value):
    for django_loader in (False, True):
        with pytest.raises(DataError):
            _load([value], django_loader=django_loader)


def test_a_session_whose_time_zone_was_changed_loads_as_djangos_loader_does():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Europe/Paris'")
    try:
        assert _load(VALUES[:8], django_loader=False) == _load(VALUES[:8], django_loader=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")


def test_a_connection_in_another_time_zone_is_left_as_django_made_it():
    paris = connection.copy()
    paris.settings_dict["TIME_ZONE"] = "Europe/Paris"
    try:
        paris.ensure_connection()
        assert use_c_timestamptz_loader(paris) is False
        loader = paris.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert loader is not UtcTimestamptzLoader
        assert str(loader.timezone) == "Europe/Paris"
    finally:
        paris.close()
