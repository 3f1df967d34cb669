"""The machine to itself for a test that measures the product's speed under faults.

The short chaos run (tests/test_chaos.py) checks a promise with a clock in it: after every fault,
a new message reaches the console within 5 s. Under pytest-xdist the other workers (`make test`
runs three) kept running their own tests beside it (browsers, server processes, flushes), and on
two cores the chaos run's recovery was then measured on a small share of the machine: 5.5 s once,
where alone it takes 1 s at most. Their timing-sensitive browser tests suffered from it as well.

So every test holds a shared lock on one file of the run while it runs (its fixtures included),
and a test that wants the machine alone takes it exclusively, for as long as it needs it. A
second file is the gate: the one who wants the machine closes it first, so that the other
workers, which take a shared lock again between every two tests, cannot keep it waiting.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _lock_dir(factory: pytest.TempPathFactory) -> Path:
    # Each xdist worker's base temp is `popen-gwN` under one directory of the whole run; without
    # xdist there is one process and the run's own base temp will do.
    base = factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def shared(factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run beside other tests, but not beside one that has the machine alone."""
    where = _lock_dir(factory)
    with _flock(where / "machine.gate", fcntl.LOCK_SH):
        pass  # closed while somebody waits for, or has, the machine alone
    with _flock(where / "machine.lock", fcntl.LOCK_SH):
        yield


@contextmanager
def alone(factory: pytest.TempPathFactory) -> Iterator[None]:
    """Wait until the tests running now have ended, and keep new ones from starting."""
    where = _lock_dir(factory)
    with _flock(where / "machine.gate", fcntl.LOCK_EX), _flock(where / "machine.lock", fcntl.LOCK_EX):
        yield
