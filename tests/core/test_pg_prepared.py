"""apps.core.pg_prepared: the list page's statements are prepared per connection (planned once),
and nothing else is."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.pg_prepared import prepared_cursor
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]

STATEMENT = "SELECT %s::int + 41 AS answer"


def _prepared() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_a_statement_is_prepared_once_and_then_only_executed():
    for value in range(6):
        with prepared_cursor(connection) as cursor:
            cursor.execute(STATEMENT, [value])
            assert cursor.fetchall() == [(value + 41,)]
    runs = {text: n for text, n in _prepared().items() if "+ 41 AS answer" in text}
    assert list(runs.values()) == [6]  # one prepared statement, run six times
    assert list(runs) == ["SELECT $1::int + 41 AS answer"]  # the value sent apart from the text


def test_djangos_own_statements_are_not_prepared():
    with prepared_cursor(connection) as cursor:
        cursor.execute(STATEMENT, [1])
    for value in range(10):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 42 AS other", [value])
    assert not [text for text in _prepared() if "+ 42 AS other" in text]


def test_its_statements_are_counted_like_any_other():
    with CaptureQueriesContext(connection) as ctx, prepared_cursor(connection) as cursor:
        cursor.execute(STATEMENT, [1])
    assert [q["sql"] for q in ctx.captured_queries] == ["SELECT 1::int + 41 AS answer"]


def test_off_it_is_djangos_cursor(settings):
    settings.DATABASE_PREPARE = False
    for value in range(6):
        with prepared_cursor(connection) as cursor:
            cursor.execute("SELECT %s::int + 43 AS off", [value])
    assert not [text for text in _prepared() if "+ 43 AS off" in text]
