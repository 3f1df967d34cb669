"""Emptying the database after a transactional test, on PostgreSQL, in one round trip.

Django's TransactionTestCase ends each test with `manage.py flush`: a TRUNCATE of every table
(about 0.65 s for our 77 tables on this machine: TRUNCATE takes each table's strongest lock and
rewrites its files) and then the post_migrate signal, which reads every app's content types and
permissions back (about 0.45 s). With some 700 transactional tests that is over ten minutes of
the test processes' time, on a machine whose two cores they share.

`fast_teardown` replaces it where it safely can: one batch of DELETEs, with triggers (foreign
keys included) off for the transaction, of every table but the content types and permissions,
which post_migrate would only have written back as they were. The tables hold a test's few rows,
so a DELETE is cheap. Where it cannot be sure of the same end state it does Django's flush:

- the test asks for `available_apps`, `serialized_rollback` or `reset_sequences`;
- the database is not PostgreSQL, or its role may not turn triggers off;
- the content types or permissions are not the ones the last full flush left (a test that ran
  `migrate` or deleted one). The tables to empty are read after a full flush, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.test import TransactionTestCase

# Written by post_migrate (contenttypes, auth), not by the tests; a flush writes them back as they
# were. django_migrations is not a model table: flush leaves it too.
KEPT_TABLES = ("django_content_type", "auth_permission")

_django_teardown = TransactionTestCase._fixture_teardown


@dataclass(frozen=True)
class _Reference:
    """A database as the last full flush left it: its kept rows' counts, and the tables to empty
    (read once: introspecting them on every teardown was a query each)."""

    kept: tuple[int, int]  # content types, permissions
    tables: tuple[str, ...]


_reference: dict[str, _Reference] = {}


class _NeedsFlush(Exception):
    pass


def _kept_counts(cursor: Any) -> tuple[int, int]:
    cursor.execute("SELECT (SELECT count(*) FROM django_content_type), (SELECT count(*) FROM auth_permission)")
    return tuple(cursor.fetchone())


def _delete_all(alias: str) -> bool:
    """Empty every model table of `alias` but KEPT_TABLES; False (and nothing changed) where
    Django's flush is needed instead."""
    connection = connections[alias]
    reference = _reference.get(alias)
    if connection.vendor != "postgresql" or reference is None:
        return False
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if _kept_counts(cursor) != reference.kept:
                raise _NeedsFlush
            # Off for this transaction only: no foreign key (or other) trigger fires, so the
            # order of the DELETEs does not matter. Needs a superuser, as the test database's
            # owner on the machines we run on is; elsewhere the flush below.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("; ".join(f"DELETE FROM {connection.ops.quote_name(t)}" for t in reference.tables))
    except (_NeedsFlush, DatabaseError):
        return False
    return True


def fast_teardown(self: TransactionTestCase) -> None:
    if self.available_apps is not None or self.serialized_rollback or self.reset_sequences:
        _django_teardown(self)
        return
    aliases = list(self._databases_names(include_mirrors=False))
    if all(_delete_all(alias) for alias in aliases):
        return
    _django_teardown(self)
    for alias in aliases:
        note_reference(alias)


def note_reference(alias: str) -> None:
    """Take `alias`'s content types and permissions as they are now as the ones a flush leaves,
    and its tables (but those) as the ones to empty."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        with connection.cursor() as cursor:
            _reference[alias] = _Reference(
                kept=_kept_counts(cursor), tables=tuple(sorted(set(tables) - set(KEPT_TABLES)))
            )


def install() -> None:
    TransactionTestCase._fixture_teardown = fast_teardown
