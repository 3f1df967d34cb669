"""One run_xmpp per account: a second session of one account would make the server kick the
first (RFC 6120 §7.7.2.2), and the two would take turns forever. On PostgreSQL each running
account holds a session advisory lock, on a connection of its own: another run_xmpp (a second
replica, a `make run` on the same database) leaves that account alone until the lock is free.
SQLite is one process: nothing to hold.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection

log = logging.getLogger(__name__)

NAMESPACE_XMPP_ACCOUNT = 0x5D5E0201


class AccountLocks:
    """Used from one thread at a time (run_xmpp's database thread)."""

    def __init__(self) -> None:
        self._conn: Any = None
        self.held: set[int] = set()

    def _connect(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        import psycopg

        params = connection.get_connection_params()
        for key in ("cursor_factory", "context", "pool", "prepare_threshold"):
            params.pop(key, None)
        self._conn = psycopg.connect(**params, autocommit=True, connect_timeout=3)
        self.held.clear()  # a new session holds nothing
        return self._conn

    def hold(self, account_id: int) -> bool:
        """Take the account's lock (True), or find it held by another process (False)."""
        if connection.vendor != "postgresql":
            return True
        if account_id in self.held:
            return True
        row = (
            self._connect()
            .execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id])
            .fetchone()
        )
        if row and row[0]:
            self.held.add(account_id)
            return True
        return False

    def release(self, account_id: int) -> None:
        if account_id not in self.held:
            return
        self.held.discard(account_id)
        try:
            self._connect().execute("SELECT pg_advisory_unlock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id])
        except Exception:  # noqa: BLE001 - a lost session has released it anyway
            log.warning("xmpp: releasing the lock of account %s failed", account_id, exc_info=True)

    def alive(self) -> bool:
        """Whether the locks are still held (the session is up): False means they are lost."""
        if connection.vendor != "postgresql" or not self.held:
            return True
        try:
            self._conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001
            self.close()
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self.held.clear()
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
