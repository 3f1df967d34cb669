"""Transaction-scoped named locks, for rows that do not exist yet.

A row lock cannot serialise two transactions that are both about to *create* something (two
first messages from one number over SMS and WhatsApp; a status callback racing the send that
records the provider id). On PostgreSQL a transaction-scoped advisory lock on a name does: the
second waits until the first commits, then sees its rows. SQLite serialises writers already.

Keys use the two-int form (namespace, hashtext(name)), a key space apart from the one-bigint
event-order lock in apps.bus.events. Take these locks before any row lock, in one order:
identity, then provider message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

NAMESPACE_IDENTITY = 0x5D5E0101
NAMESPACE_PROVIDER_MESSAGE = 0x5D5E0102


def xact_lock(namespace: int, name: str) -> None:
    """Hold a lock on `name` until the current transaction ends (PostgreSQL only)."""
    if not connection.in_atomic_block:
        raise RuntimeError("a transaction-scoped lock needs a transaction")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [namespace, name])


def xact_locks(namespace: int, names: Sequence[str]) -> None:
    """Hold locks on every one of `names` until the current transaction ends, taken in one
    round trip and in one order (sorted by the database) whoever asks, so that two transactions
    locking overlapping sets queue instead of deadlocking (PostgreSQL only)."""
    if not connection.in_atomic_block:
        raise RuntimeError("a transaction-scoped lock needs a transaction")
    if connection.vendor != "postgresql" or not names:
        return
    with connection.cursor() as cursor:
        cursor.execute(*xact_locks_statement(namespace, names))


def xact_locks_statement(namespace: int, names: Sequence[str]) -> tuple[str, list[Any]]:
    """The statement of `xact_locks` (PostgreSQL), for a caller that sends it in one round trip
    with the statements that need the locks (apps.core.rawsql.run)."""
    return (
        "SELECT count(pg_advisory_xact_lock(%s, hashtext(n)))"
        " FROM (SELECT DISTINCT n FROM unnest(%s::text[]) AS t(n) ORDER BY n) AS sorted",
        [namespace, list(names)],
    )


def xact_try_locks(namespace: int, names: Sequence[str]) -> list[str]:
    """Take, without waiting, the locks on `names` that nobody holds, until the current
    transaction ends; returns the names locked, in the order given (PostgreSQL; elsewhere all).
    Never waiting, it cannot deadlock whatever order other transactions lock in."""
    if not connection.in_atomic_block:
        raise RuntimeError("a transaction-scoped lock needs a transaction")
    if connection.vendor != "postgresql" or not names:
        return list(names)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i)"
            " WHERE pg_try_advisory_xact_lock(%s, hashtext(n)) ORDER BY i",
            [list(names), namespace],
        )
        return [row[0] for row in cursor.fetchall()]
