"""The faults: what can go wrong, one at a time, in a seeded order.

Process faults come from the layout (bench/chaos/layout.py): `<role>-kill` (SIGKILL to the
process group; the supervisor restarts it) for every role that allows KILL, `<role>-stop`
(SIGSTOP for `--stop-seconds`, then SIGCONT) for every role that allows STOP. Service faults:
`redis-restart` (the private Redis killed and started again empty), `pg-restart-fast` and
`pg-restart-immediate` (`pg_ctl restart -m fast|immediate` of the private PostgreSQL), and a
provider fault, `twilio-lost-answer` (the fake Twilio accepts the next `--lost-answers` sends
and closes the connection instead of answering: the sender cannot know they went out).

A fault has a start and an end: the end is when the fault is over and recovery is the system's
job — the instant of a kill (restarting is the supervisor's part of recovering), the SIGCONT
of a stop, the moment the restarted server answers.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chaos.layout import KILL, STOP, Layout
from bench.chaos.services import PrivatePostgres, PrivateRedis
from bench.chaos.supervisor import Supervisor

SERVICE_FAULTS = ["redis-restart", "pg-restart-fast", "pg-restart-immediate", "twilio-lost-answer"]
# The default mix: the kinds issue 9 names (a worker killed and stopped, a web process killed,
# Redis restarted empty, PostgreSQL restarted fast and immediate) and the lost answer.
DEFAULT_FAULTS = ["bus-kill", "bus-stop", "worker-kill", "worker-stop", "web-kill", *SERVICE_FAULTS]


def fault_kinds(layout: Layout) -> list[str]:
    """Every fault this layout can suffer."""
    kinds = []
    for role in layout.roles():
        allowed = {f for p in layout.processes if p.role == role for f in p.faults}
        kinds += [f"{role}-{fault}" for fault in (KILL, STOP) if fault in allowed]
    return kinds + SERVICE_FAULTS


def plan(kinds: list[str], count: int, rng: random.Random) -> list[str]:
    """`count` faults: rounds in which every kind comes once, each round in a random order."""
    faults: list[str] = []
    while len(faults) < count:
        block = list(kinds)
        rng.shuffle(block)
        faults += block
    return faults[:count]


@dataclass
class Fault:
    index: int
    kind: str
    target: str = ""
    started: float = 0.0
    ended: float = 0.0
    detail: str = ""
    error: str = ""  # the injection itself failed
    # filled in while the run goes on and after it:
    work_done_at: float | None = None  # everything pending at `ended` was done by then
    extra: dict[str, Any] = field(default_factory=dict)


class Injector:
    def __init__(
        self,
        *,
        supervisor: Supervisor,
        postgres: PrivatePostgres,
        redis: PrivateRedis,
        twilio: Any,
        rng: random.Random,
        stop_seconds: float,
        redis_down: float,
        lost_answers: int,
    ) -> None:
        self.supervisor = supervisor
        self.postgres = postgres
        self.redis = redis
        self.twilio = twilio
        self.rng = rng
        self.stop_seconds = stop_seconds
        self.redis_down = redis_down
        self.lost_answers = lost_answers

    async def inject(self, fault: Fault) -> None:
        fault.started = time.time()
        try:
            await self._inject(fault)
        except Exception as exc:  # noqa: BLE001 - reported with the fault; the run goes on
            fault.error = f"{type(exc).__name__}: {exc}"
        fault.ended = time.time()

    async def _inject(self, fault: Fault) -> None:
        kind = fault.kind
        role, _, action = kind.rpartition("-")
        if action in (KILL, STOP):
            candidates = [p.name for p in self.supervisor.layout.processes if p.role == role and action in p.faults]
            if not candidates:
                raise ValueError(f"no {role} process can take {action}")
            fault.target = self.rng.choice(candidates)
            if action == KILL:
                self.supervisor.kill(fault.target)
            else:
                self.supervisor.pause(fault.target)
                await asyncio.sleep(self.stop_seconds)
                self.supervisor.resume(fault.target)
                fault.detail = f"stopped {self.stop_seconds:g} s"
        elif kind == "redis-restart":
            fault.target = "redis"
            await asyncio.to_thread(self.redis.restart_empty, self.redis_down)
        elif kind in ("pg-restart-fast", "pg-restart-immediate"):
            fault.target = "postgres"
            await asyncio.to_thread(self.postgres.restart, kind.rsplit("-", 1)[1])
        elif kind == "twilio-lost-answer":
            fault.target = "twilio"
            self.twilio.drop_answers(self.lost_answers)
            fault.detail = f"next {self.lost_answers} answer(s) lost"
        else:
            raise ValueError(f"unknown fault {kind!r}")
