"""Start the layout's processes and keep them running, as docker's restart policy would.

A process the runner killed is restarted after `restart_delay` seconds. A process that exits
when nobody killed it is a finding: it is recorded (name, exit status, the end of its log) and
restarted the same way.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field

from bench.chaos.layout import Layout, ProcessSpec
from bench.processes import Processes, wait_http


@dataclass
class Exit:
    name: str
    at: float  # time.time()
    returncode: int | None
    expected: bool
    log_tail: str = ""


@dataclass
class Supervisor:
    layout: Layout
    procs: Processes
    restart_delay: float = 1.0
    exits: list[Exit] = field(default_factory=list)
    restarts: int = 0
    _expected: set[str] = field(default_factory=set)
    _restarting: set[str] = field(default_factory=set)
    _stopped: set[str] = field(default_factory=set)  # SIGSTOPped now
    _closing: bool = False

    def spec(self, name: str) -> ProcessSpec:
        return next(p for p in self.layout.processes if p.name == name)

    def start(self, spec: ProcessSpec) -> None:
        self.procs.start(spec.name, spec.argv, spec.env)

    def start_all(self, timeout: float = 90) -> None:
        for spec in self.layout.processes:
            self.start(spec)
        names = [p.name for p in self.layout.processes]
        for spec in self.layout.processes:
            if spec.ready_url:
                wait_http(spec.ready_url, timeout, self.procs, names)

    def pid(self, name: str) -> int:
        return self.procs.items[name].pid

    # --- faults ----------------------------------------------------------------------
    def kill(self, name: str) -> None:
        self._expected.add(name)
        self.procs.signal(name, signal.SIGKILL)

    def pause(self, name: str) -> None:
        self._stopped.add(name)
        self.procs.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.procs.signal(name, signal.SIGCONT)
        self._stopped.discard(name)

    # --- watching --------------------------------------------------------------------
    async def watch(self, interval: float = 0.2) -> None:
        while not self._closing:
            for spec in self.layout.processes:
                proc = self.procs.items.get(spec.name)
                if proc is None or spec.name in self._restarting or proc.poll() is None:
                    continue
                expected = spec.name in self._expected
                self._expected.discard(spec.name)
                self.exits.append(
                    Exit(
                        name=spec.name,
                        at=time.time(),
                        returncode=proc.returncode,
                        expected=expected,
                        log_tail="" if expected else self.log_tail(spec.name),
                    )
                )
                self._restarting.add(spec.name)
                asyncio.ensure_future(self._restart(spec))
            await asyncio.sleep(interval)

    async def _restart(self, spec: ProcessSpec) -> None:
        try:
            await asyncio.sleep(self.restart_delay)
            if not self._closing:
                self.start(spec)
                self.restarts += 1
        finally:
            self._restarting.discard(spec.name)

    def stop_watching(self) -> None:
        """No more restarts: the run is over."""
        self._closing = True

    def log_tail(self, name: str, lines: int = 12) -> str:
        try:
            text = self.procs.log_path(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.stop_watching()
        for name in list(self._stopped):
            self.resume(name)
        self.procs.stop([p.name for p in self.layout.processes])
