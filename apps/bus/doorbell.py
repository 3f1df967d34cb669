"""Doorbells: a committed change wakes whoever waits for it, at once, in any process.

On PostgreSQL a doorbell is a NOTIFY sent inside the transaction of the change: PostgreSQL
delivers it when, and only if, that transaction commits, to every session LISTENing on the
channel, in commit order. Nothing else (no broker, no Redis) is between a change and the
process that acts on it. On SQLite (the embedded default, one process) it is an in-process
signal rung after commit.

A doorbell says "look"; the truth is in the tables. Listeners also look on a timer, so a ring
lost while a listener reconnects costs latency, never work. Payloads are hints (the newest
event id) or ephemeral frames (typing), at most NOTIFY's 8000 bytes.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from apps.core import rawsql

log = logging.getLogger(__name__)

INBOUND = "supportdesk_inbound"  # a journal entry is pending
OUTBOX = "supportdesk_outbox"  # an outbox entry is due
RECEIPTS = "supportdesk_receipts"  # a delivery-status receipt waits to be applied
EVENTS = "supportdesk_events"  # events were appended (payload: the newest id)
EPHEMERAL = "supportdesk_ephemeral"  # a frame not worth logging (payload: JSON)
JOBS = "supportdesk_jobs"  # an app's queued work is due (registry.register_job)

MAX_PAYLOAD = 7900

_local: dict[str, list[Callable[[str], None]]] = {}
_local_lock = threading.Lock()


def ring(channel: str, payload: str = "") -> None:
    """Ring `channel` when the current transaction commits (at once outside a transaction)."""
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"a doorbell payload is at most {MAX_PAYLOAD} bytes")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, payload])
    else:
        transaction.on_commit(lambda: ring_local(channel, payload))


def insert_ringing(obj: Model, *, conflict: str, channel: str | None) -> bool:
    """PostgreSQL: INSERT `obj` unless it breaks the unique constraint `conflict` names (an
    ON CONFLICT target), and ring `channel` (None: no ring) if it was written — one statement:
    one round trip, its own transaction outside an atomic block, where the NOTIFY goes with its
    commit. A repeat writes nothing and rings nothing. Returns whether it was written (its pk
    then set): a webhook's whole work before it answers (the journal, status receipts)."""
    insert, values = rawsql.insert_values(obj)
    notify = ", pg_notify(%s, '')" if channel else ""
    pk = rawsql.qn(type(obj)._meta.pk.column)
    sql = f"WITH new AS ({insert} ON CONFLICT {conflict} DO NOTHING RETURNING {pk}) SELECT {pk}{notify} FROM new"
    rows = rawsql.run([(sql, [*values, channel] if channel else values)])[0]
    if not rows:
        return False
    rawsql.inserted(obj, rows[0][0])
    return True


def ring_local(channel: str, payload: str = "") -> None:
    """Wake this process's listeners of `channel` (never raises)."""
    with _local_lock:
        callbacks = list(_local.get(channel, ()))
    for callback in callbacks:
        try:
            callback(payload)
        except Exception:  # noqa: BLE001 - one listener's bug never stops a commit
            log.exception("doorbell listener of %s failed", channel)


def listen_local(channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(payload)` (on the ringing thread; keep it short) for this process's rings.
    Returns the function that stops it."""
    with _local_lock:
        _local.setdefault(channel, []).append(callback)

    def stop() -> None:
        with _local_lock:
            callbacks = _local.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)

    return stop


class Listener:
    """A blocking wait for doorbells, for a thread that acts on them.

    On PostgreSQL: its own autocommit connection that LISTENs, reconnecting after a drop (the
    caller reads the tables after every wait, rung or not, so nothing rung during a reconnect is
    missed for long). Elsewhere: this process's rings.
    """

    def __init__(self, channels: Iterable[str], stop: threading.Event | None = None) -> None:
        self.channels = list(channels)
        self.stopping = stop or threading.Event()  # set: a wait ends within half a second
        self._conn: Any = None
        self._pending: list[tuple[str, str]] = []
        self._cond = threading.Condition()
        self._stops: list[Callable[[], None]] = []
        self._postgres = connection.vendor == "postgresql"
        if not self._postgres:
            for channel in self.channels:
                self._stops.append(listen_local(channel, self._ringer(channel)))

    def listen(self) -> Listener:
        """LISTEN now (PostgreSQL), before the caller's first look at the tables, so that a ring
        between that look and the first wait is not lost. A failure is left to `wait` to retry."""
        if self._postgres:
            try:
                self._connect()
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: `wait` reconnects
                log.warning("doorbell listener could not connect yet (%s)", exc)
                self.close()
        return self

    def _ringer(self, channel: str) -> Callable[[str], None]:
        def rung(payload: str) -> None:
            self._rung(channel, payload)

        return rung

    def _rung(self, channel: str, payload: str) -> None:
        with self._cond:
            self._pending.append((channel, payload))
            self._cond.notify_all()

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        """The rings (channel, payload) that came within `timeout` seconds; [] on a timeout."""
        if not self._postgres:
            deadline = time.monotonic() + timeout
            with self._cond:
                while not self._pending and not self.stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, 0.5))
                rings, self._pending = self._pending, []
                return rings
        try:
            conn = self._connect()
            rings = self._drain(conn)
            if rings:
                return rings
            deadline = time.monotonic() + timeout
            while not self.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                ready, _, _ = select.select([conn.fileno()], [], [], min(left, 0.5))
                if ready:
                    return self._drain(conn)
            return []
        except Exception as exc:  # noqa: BLE001 - PostgreSQL away: reconnect on the next wait
            log.warning("doorbell listener lost its connection (%s); reconnecting", exc)
            self.close()
            threading.Event().wait(min(timeout, 0.5))
            return []

    def _connect(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("pool", None)
        params.pop("prepare_threshold", None)
        conn = psycopg.connect(**params, autocommit=True, connect_timeout=3)
        for channel in self.channels:
            conn.execute(f'LISTEN "{channel}"')
        self._conn = conn
        return conn

    @staticmethod
    def _drain(conn: Any) -> list[tuple[str, str]]:
        conn.pgconn.consume_input()
        rings: list[tuple[str, str]] = []
        while True:
            notify = conn.pgconn.notifies()
            if notify is None:
                return rings
            rings.append((notify.relname.decode(), notify.extra.decode()))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def stop(self) -> None:
        self.close()
        for stop in self._stops:
            stop()
        self._stops = []
