"""The bus worker (`manage.py run_bus`): drains the inbound journal and sends the outbox.

Three loops on their own threads, each woken by its doorbell (PostgreSQL NOTIFY) and looking on
a timer as well:
- the drain claims pending journal entries in batches and stores each batch in one
  transaction (apps.bus.services.journal.inbound_drain);
- the receipt drain applies delivery-status receipts in batches, so that a status webhook
  does one INSERT and answers (apps.bus.services.receipts.status_receipts_drain);
- the sender leases due outbox entries and hands them to a pool of threads (sends are network
  waits), renews the leases of the sends still running, and takes more as threads free up
  (apps.bus.services.outbox).
Any number of bus workers can run: claims skip what another holds, and what a dead worker held
goes back at once (the drain's row locks) or when its lease lapses (the sender's).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from apps.bus import doorbell
from apps.bus.jobs import jobs_loop
from apps.bus.services.journal import TurnWatch, inbound_drain
from apps.bus.services.outbox import outbox_claim, outbox_renew_leases, outbox_send_claimed
from apps.bus.services.receipts import status_receipts_drain

log = logging.getLogger(__name__)


def _db_trouble(what: str) -> None:
    log.warning("bus worker: %s failed; retrying", what, exc_info=True)
    close_old_connections()
    connection.close()


class BusWorker:
    def __init__(self, *, drain: bool = True, send: bool = True, jobs: bool = True) -> None:
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        if drain:
            self.threads.append(threading.Thread(target=self._drain_loop, name="bus-drain", daemon=True))
            self.threads.append(threading.Thread(target=self._receipts_loop, name="bus-receipts", daemon=True))
        if send:
            self.threads.append(threading.Thread(target=self._send_loop, name="bus-send", daemon=True))
        if jobs:  # the apps' queued work (webhooks, broadcasts): apps.bus.jobs
            self.threads.append(threading.Thread(target=self._jobs_loop, name="bus-jobs", daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT (the main thread of `run_bus`)."""

        def on_signal(signum: int, frame: Any) -> None:
            log.info("bus worker: signal %s, stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self.stopping.wait(1.0):
            for thread in self.threads:
                if not thread.is_alive():  # a bug, not a state: say so loudly and run it again
                    log.error("bus worker: thread %s ended; restarting it", thread.name)
                    replacement = threading.Thread(target=thread._target, name=thread.name, daemon=True)  # type: ignore[attr-defined]
                    self.threads[self.threads.index(thread)] = replacement
                    replacement.start()
        self.stop()

    def _jobs_loop(self) -> None:
        jobs_loop(self.stopping)

    # --- the inbound drain --------------------------------------------------------------------
    def _drain_loop(self) -> None:
        listener = doorbell.Listener([doorbell.INBOUND], stop=self.stopping).listen()
        poll = settings.BUS_POLL_SECONDS
        # Another worker's drainer has the turn: it hears the same rings and drains after its
        # batch what came meanwhile, so this one steps back and leaves the journal to it for the
        # turn's wait (at light load both would wake on every message and race for it), then
        # looks again: it drains beside a drainer that is stuck (apps.bus.services.journal), or
        # takes the turn from one that went idle.
        watch = TurnWatch()
        try:
            while not self.stopping.is_set():
                try:
                    claimed, processed = inbound_drain(watch=watch)
                except Exception:  # noqa: BLE001 - PostgreSQL away: the journal keeps everything
                    _db_trouble("draining the journal")
                    self.stopping.wait(0.5)
                    continue
                if claimed >= settings.BUS_BATCH_SIZE and processed:
                    continue  # a full batch: more is waiting
                if watch.stepped_back:
                    self.stopping.wait(settings.BUS_DRAIN_TURN_WAIT_SECONDS)
                    listener.wait(0)  # the rings meanwhile were the other drainer's
                    continue
                listener.wait(poll)
        finally:
            listener.stop()
            connection.close()

    # --- the receipt drain --------------------------------------------------------------------
    def _receipts_loop(self) -> None:
        listener = doorbell.Listener([doorbell.RECEIPTS], stop=self.stopping).listen()
        poll = settings.BUS_POLL_SECONDS
        try:
            while not self.stopping.is_set():
                try:
                    claimed, _ = status_receipts_drain()
                except Exception:  # noqa: BLE001 - PostgreSQL away: the receipts wait in their table
                    _db_trouble("applying delivery statuses")
                    self.stopping.wait(0.5)
                    continue
                if claimed >= settings.BUS_BATCH_SIZE:
                    continue
                if listener.wait(poll):
                    # Rung: a burst of callbacks rings once each; let them gather, then apply
                    # them in one transaction rather than one or two per drain.
                    self.stopping.wait(settings.BUS_RECEIPTS_GATHER_SECONDS)
        finally:
            listener.stop()
            connection.close()

    # --- the outbox sender --------------------------------------------------------------------
    def _send_loop(self) -> None:
        listener = doorbell.Listener([doorbell.OUTBOX], stop=self.stopping).listen()
        size = settings.BUS_SEND_THREADS
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bus-send")
        running: dict[int, Future[str]] = {}
        freed = threading.Event()
        renew_every = settings.OUTBOX_LEASE_SECONDS / 3
        next_renew = time.monotonic() + renew_every
        poll = settings.BUS_POLL_SECONDS
        try:
            while not self.stopping.is_set():
                for message_id in [m for m, f in running.items() if f.done()]:
                    running.pop(message_id)
                try:
                    if time.monotonic() >= next_renew:
                        outbox_renew_leases(list(running))
                        next_renew = time.monotonic() + renew_every
                    free = size - len(running)
                    claims = outbox_claim(limit=free) if free > 0 else []
                except Exception:  # noqa: BLE001
                    _db_trouble("claiming the outbox")
                    self.stopping.wait(0.5)
                    continue
                for message_id, in_doubt_since in claims:
                    future = pool.submit(_send, message_id, in_doubt_since)
                    future.add_done_callback(lambda _f: freed.set())
                    running[message_id] = future
                if len(claims) and len(claims) == free:
                    freed.wait(min(poll, 0.5))  # every thread is busy: wait for one
                    freed.clear()
                    continue
                listener.wait(poll if not running else min(poll, renew_every))
        finally:
            listener.stop()
            pool.shutdown(wait=True, cancel_futures=False)
            connection.close()


def _send(message_id: int, in_doubt_since: Any) -> str:
    close_old_connections()  # a connection broken by a PostgreSQL restart is not reused
    try:
        return outbox_send_claimed(message_id=message_id, in_doubt_since=in_doubt_since)
    except Exception:  # noqa: BLE001 - the lease lapses and the entry is taken up again
        log.exception("bus worker: sending message %s failed", message_id)
        return "error"
    finally:
        connection.close()  # back to the pool (production); the thread may not send again for long
