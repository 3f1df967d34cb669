"""Leased long-running loops for channels that pull from a provider (Telegram's getUpdates,
Mastodon's stream): one loop per account, wherever it runs, kept by a lease on the account's
row, backing off on errors, and a supervisor that starts a loop per account as accounts appear.

A channel gives the pieces that differ — how to claim and release the lease, whether the
account still wants a loop, one round of work, and how to read a provider error — and these
functions keep the rest the same for every channel: the database connection is closed after
every round (a connection broken by a PostgreSQL restart is never reused), a bug or a database
outage never ends a loop, and the lease is released when the loop ends.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0


def owner_name() -> str:
    """Who holds a lease: this host and process, unique per start."""
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeasedLoop:
    """What one channel's per-account loop does; see the module's docstring.

    `run_once(pk)` returns the seconds to wait before the next round (0: go on at once).
    `provider_error(pk, exc)` returns None when `exc` is not the provider's (a bug: logged as
    such), else the seconds the provider asked to wait (or 0 for the usual backoff), having
    recorded the trouble where the admin sees it.
    """

    what: str  # "Telegram polling of bot", for the log
    claim: Callable[[int, str], bool]
    release: Callable[[int, str], None]
    wanted: Callable[[int], bool]  # the account still exists and wants this loop
    run_once: Callable[[int], float]
    provider_error: Callable[[int, Exception], float | None]
    lease_seconds: float

    def run(self, pk: int, stop: threading.Event, *, owner: str) -> None:
        """Loop for one account until `stop` is set or it no longer wants a loop."""
        failures = 0
        try:
            while not stop.is_set():
                wait = 0.0
                try:
                    if not self.claim(pk, owner):
                        if not self.wanted(pk):
                            return
                        wait = self.lease_seconds / 3  # another process has it
                    else:
                        wait = self.run_once(pk)
                        failures = 0
                except Exception as exc:  # noqa: BLE001 - the provider, the database or a bug: go on
                    failures += 1
                    asked = self.provider_error(pk, exc)
                    if asked is None:
                        log.exception("%s %s failed", self.what, pk)
                    wait = asked or min(MAX_BACKOFF, 2.0 ** min(failures, 6))
                finally:
                    close_old_connections()
                if wait:
                    stop.wait(wait)
        finally:
            try:
                self.release(pk, owner)
            except Exception:  # noqa: BLE001
                log.exception("could not release the lease of %s %s", self.what, pk)
            close_old_connections()


def supervise(
    stop: threading.Event,
    *,
    accounts: Callable[[], list[int]],
    loop: Callable[[int, threading.Event, str], None],
    name: str,
    every: float = 15.0,
) -> None:
    """A thread per account (`loop(pk, stop, owner)`), started as accounts appear, until `stop`."""
    owner = owner_name()
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        try:
            for pk in accounts():
                thread = threads.get(pk)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(target=loop, args=(pk, stop, owner), daemon=True, name=f"{name}-{pk}")
                    threads[pk] = thread
                    thread.start()
        except Exception:  # noqa: BLE001
            log.exception("listing the accounts for %s failed", name)
        finally:
            close_old_connections()
        stop.wait(every)
    for thread in threads.values():
        thread.join(timeout=5)


def start_supervisor(
    accounts: Callable[[], list[int]], run: Callable[[threading.Event], None], name: str
) -> threading.Thread | None:
    """For `make run` (embedded mode): run the supervisor on a thread of the server when any
    account exists. None when there is none (or the database is not migrated yet)."""
    try:
        if not accounts():
            return None
    except Exception:  # noqa: BLE001 - not migrated yet
        return None
    finally:
        close_old_connections()
    thread = threading.Thread(target=run, args=(threading.Event(),), daemon=True, name=name)
    thread.start()
    return thread
