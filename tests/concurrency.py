"""Threads that race on a real PostgreSQL, for the tests of locks and unique constraints."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection


def run_at_once(fn: Callable[..., Any], args_list: Sequence[tuple]) -> list:
    """Run fn(*args) in one thread per args, released together; re-raise any thread's error.

    Each thread closes its own database connection, and a hung thread fails the test.
    """
    barrier = threading.Barrier(len(args_list))
    results: list = [None] * len(args_list)
    errors: list[BaseException] = []

    def work(i: int, args: tuple) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def run_together(*sides: Callable[[], Any]) -> list:
    """Run each callable in its own thread (they coordinate with their own events)."""
    return run_at_once(lambda side: side(), [(side,) for side in sides])
