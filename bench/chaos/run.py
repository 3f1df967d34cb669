"""`make chaos`: the production layout under load, hurt one fault at a time; then the bill.

1. Starts a private PostgreSQL and Redis (free ports, a temporary directory), migrates and seeds
   (bench/seed.py: an SMS inbox, agents with API tokens), starts a local Twilio-compatible
   server (tests/fakes/twilio_server.py) that records every send it accepts and posts status
   callbacks, and the layout of bench/chaos/layout.py, kept running by a supervisor.
2. Drives load (bench/chaos/load.py): inbound webhooks, agent replies, status callbacks, and
   console sockets that reconnect and resume.
3. Injects the faults (bench/chaos/faults.py), one at a time, `--interval` seconds apart, and
   watches the pending work (bench/chaos/database.py) to time its recovery.
4. Stops the load, lets pending work finish (at most `--settle` seconds), lets each console
   resume one last time, and compares what was answered with what was stored, sent and shown
   (bench/chaos/report.py). Prints the table, saves the JSON, and stops everything it started.

Exit status: 0 when every check is met, 1 when one is not, 2 when the run itself failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import requests

from bench.chaos import database
from bench.chaos.faults import Fault, Injector, fault_kinds, plan
from bench.chaos.layout import Layout, Wiring, app_env, layout, setup_commands
from bench.chaos.load import Console, InboundLoad, ReplyLoad, WebFront, visible_event_ids
from bench.chaos.options import parse_args
from bench.chaos.report import Recorded, analyse, fault_lines, table
from bench.chaos.services import PrivatePostgres, PrivateRedis, postgres_bindir
from bench.chaos.supervisor import Supervisor
from bench.processes import PY, ROOT, Processes, free_port
from tests.fakes.twilio_server import FakeTwilio

RESULTS = ROOT / "bench" / "results"
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "chaos-twilio-auth-token"
PUBLIC_BASE_URL = "https://chaos.supportdesk.test"


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CallbackRouter:
    """Posts the fake Twilio's status callbacks to the web processes, as a load balancer would:
    the URL Twilio signs is PUBLIC_BASE_URL's, the request goes to one of the processes."""

    def __init__(self, http_urls: list[str]) -> None:
        self.http_urls = http_urls
        self.next = 0

    def __call__(self, url: str, params: dict[str, str], signature: str) -> int:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")  # signed with its query
        start, self.next = self.next, self.next + 1
        error: Exception | None = None
        for step in range(len(self.http_urls)):
            base = self.http_urls[(start + step) % len(self.http_urls)]
            try:
                response = requests.post(
                    base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=15
                )
                return response.status_code
            except requests.ConnectionError as exc:
                error = exc  # refused: the next process
        assert error is not None
        raise error


class ChaosRun:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.rng = random.Random(args.seed)
        self.workdir = Path(tempfile.mkdtemp(prefix="supportdesk-chaos-"))
        os.chmod(self.workdir, 0o755)  # the postgres user (when we are root) needs to get in
        self.log_dir = Path(args.log_dir) if args.log_dir else RESULTS / f"chaos-{self.stamp}-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.log_dir)
        self.postgres = PrivatePostgres(self.workdir, free_port(), postgres_bindir(args.pg_bin))
        self.redis = PrivateRedis(self.workdir, free_port(), self.log_dir / "redis.log")
        self.twilio = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
        self.supervisor: Supervisor | None = None
        self.layout: Layout | None = None

    # --- setup -----------------------------------------------------------------------
    def setup(self) -> dict[str, Any]:
        started = time.monotonic()
        self.postgres.start()
        self.postgres.create_database("supportdesk")
        self.redis.start()
        self.twilio.start()
        self.twilio.answer_delay = self.args.twilio_latency
        wiring = Wiring(
            database_url=self.postgres.url("supportdesk"),
            redis_url=self.redis.url,
            twilio_base_url=self.twilio.base_url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            public_base_url=PUBLIC_BASE_URL,
            web_ports=[free_port() for _ in range(self.args.web)],
            workdir=self.workdir,
        )
        self.wiring = wiring
        self.layout = layout(wiring, workers=self.args.workers, concurrency=self.args.concurrency)
        known = fault_kinds(self.layout)
        unknown = [k for k in self.args.fault_kinds if k not in known]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; this layout has {known}")
        env = app_env(wiring)
        for cmd in setup_commands(wiring):
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
        out = subprocess.run(
            [PY, str(ROOT / "bench" / "seed.py"), "--agents", str(max(1, len(self.args.console_modes)))],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
        seeded = json.loads(out.strip().splitlines()[-1])
        self.twilio.post_status_callbacks(
            ("sent", "delivered"), delay=self.args.callback_delay, poster=CallbackRouter(self.layout.http_urls)
        )
        self.supervisor = Supervisor(self.layout, self.procs, restart_delay=self.args.restart_delay)
        self.supervisor.start_all()
        log(
            f"set up in {time.monotonic() - started:.1f} s: PostgreSQL :{self.postgres.port}, Redis :{self.redis.port}, "
            f"fake Twilio {self.twilio.base_url}; {self.layout.notes[0] if self.layout.notes else ''}"
        )
        return seeded

    # --- the run ---------------------------------------------------------------------
    async def run(self, seeded: dict[str, Any]) -> Recorded:
        args, layout_, supervisor = self.args, self.layout, self.supervisor
        assert layout_ is not None and supervisor is not None
        db_url = self.wiring.database_url
        tokens = [a["token"] for a in seeded["agents"]]
        ws_urls = [u.replace("http://", "ws://") + "/ws/console/" for u in layout_.http_urls]
        arrivals: dict[str, float] = {}
        conversations: list[int] = []
        seen_conversations: set[int] = set()

        def on_inbound(token: str, conversation: int, at: float) -> None:
            if token not in arrivals or at < arrivals[token]:
                arrivals[token] = at
            if conversation not in seen_conversations:
                seen_conversations.add(conversation)
                conversations.append(conversation)

        consoles = [
            Console(
                f"console{i}",
                mode=mode,
                token=tokens[i],
                ws_urls=ws_urls[i % len(ws_urls) :] + ws_urls[: i % len(ws_urls)],
                reconnect_every=args.reconnect_every,
                rng=random.Random(f"{args.seed}-console-{i}"),
                on_inbound=on_inbound,
            )
            for i, mode in enumerate(args.console_modes)
        ]
        faults = [Fault(index=i + 1, kind=k) for i, k in enumerate(plan(args.fault_kinds, args.count, self.rng))]
        injector = Injector(
            supervisor=supervisor,
            postgres=self.postgres,
            redis=self.redis,
            twilio=self.twilio,
            rng=random.Random(f"{args.seed}-targets"),
            stop_seconds=args.stop_seconds,
            redis_down=args.redis_down,
            lost_answers=args.lost_answers,
        )
        connector = aiohttp.TCPConnector(limit=200, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            front = WebFront(layout_.http_urls, session)
            inbound = InboundLoad(
                front,
                rate=args.rate,
                redeliver=args.redeliver,
                senders=args.senders,
                inbox_address=seeded["inbox_address"],
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                public_base_url=PUBLIC_BASE_URL,
                rng=random.Random(f"{args.seed}-inbound"),
            )
            replies = ReplyLoad(
                front,
                rate=args.reply_rate,
                resend=args.resend,
                tokens=tokens,
                conversations=conversations,
                rng=random.Random(f"{args.seed}-replies"),
                give_up_after=max(30.0, args.settle),
            )
            load_stop, consoles_stop, run_over = asyncio.Event(), asyncio.Event(), asyncio.Event()
            background = [
                asyncio.ensure_future(supervisor.watch()),
                asyncio.ensure_future(self._watch_work(db_url, faults, run_over)),
            ]
            console_tasks = [asyncio.ensure_future(c.run(consoles_stop)) for c in consoles]
            await asyncio.sleep(1.0)  # the consoles are connected before the first message
            t0 = time.time()
            load_tasks = [asyncio.ensure_future(inbound.run(load_stop)), asyncio.ensure_future(replies.run(load_stop))]
            await self._wait_first_delivery(arrivals, timeout=90)
            log(f"messages reach the consoles; warm-up {args.warmup:g} s, then {len(faults)} faults")
            await asyncio.sleep(args.warmup)
            for fault in faults:
                await self._check_background(background)
                await injector.inject(fault)
                log(
                    f"fault {fault.index}/{len(faults)} {fault.kind} {fault.target} "
                    f"({fault.ended - fault.started:.1f} s){' ERROR ' + fault.error if fault.error else ''}"
                )
                await asyncio.sleep(args.interval)
            load_stop.set()
            await asyncio.gather(*load_tasks)
            load_stopped = time.time()
            log(f"load stopped; settling (at most {args.settle:g} s)")
            await asyncio.wait_for(inbound.drain(), timeout=60)
            await self._settle(db_url, replies, deadline=load_stopped + args.settle)
            for task in list(replies.tasks):
                task.cancel()
            consoles_stop.set()
            await asyncio.gather(*console_tasks, return_exceptions=True)
            target = await asyncio.to_thread(database.event_position, db_url)
            synced = await asyncio.gather(*(c.final_sync(target) for c in consoles))
            if not all(synced):
                log("a console did not reach the end of the event log")
            expected = {}
            for console in consoles:
                if console.start_position is not None and console.end_position is not None:
                    expected[console.name] = await visible_event_ids(
                        front, console.token, since=console.start_position, upto=console.end_position
                    )
            ended = time.time()
            run_over.set()
            supervisor.stop_watching()
            await asyncio.gather(*background, return_exceptions=True)
        outcome = await asyncio.to_thread(database.outcome, db_url)
        return Recorded(
            t0=t0,
            load_stopped=load_stopped,
            ended=ended,
            inbound=inbound.records,
            replies=replies.records,
            consoles=consoles,
            expected=expected,
            arrivals=arrivals,
            faults=faults,
            sends=list(self.twilio.messages.values()),
            dropped_answers=list(self.twilio.dropped_answers),
            callbacks=list(self.twilio.callbacks),
            outcome=outcome,
            exits=supervisor.exits,
            restarts=supervisor.restarts,
        )

    async def _check_background(self, tasks: list[asyncio.Task]) -> None:
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise RuntimeError(f"a watcher failed: {task.exception()!r}")

    async def _wait_first_delivery(self, arrivals: dict[str, float], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not arrivals:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no inbound message reached a console within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def _watch_work(self, db_url: str, faults: list[Fault], over: asyncio.Event) -> None:
        """For each fault, when everything pending at its end was done (polled twice a second)."""
        while not over.is_set():
            try:
                oldest = await asyncio.to_thread(database.oldest_pending_work, db_url)
            except Exception:  # noqa: BLE001 - PostgreSQL is restarting: ask again
                oldest = -1.0
            now = time.time()
            if oldest != -1.0:
                for fault in faults:
                    if fault.ended and fault.work_done_at is None and (oldest is None or oldest > fault.ended):
                        fault.work_done_at = now
            try:
                await asyncio.wait_for(over.wait(), 0.5)
            except TimeoutError:
                pass

    async def _settle(self, db_url: str, replies: ReplyLoad, deadline: float) -> None:
        while time.time() < deadline:
            try:
                pending = await asyncio.to_thread(database.oldest_pending_work, db_url)
            except Exception:  # noqa: BLE001
                pending = -1.0
            callbacks_due = self.twilio.callbacks_pending()
            if pending is None and not replies.tasks and not callbacks_due:
                log("nothing pending")
                return
            await asyncio.sleep(1.0)
        log("settle time is up with work still pending")

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.close()
        self.procs.stop()
        self.twilio.stop()
        self.redis.stop()
        self.postgres.stop()
        try:
            shutil.copy(self.postgres.log_path, self.log_dir / "postgres.log")
        except OSError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "apps", "supportdesk"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        return "?"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    wall = time.monotonic()
    run = ChaosRun(args)

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        seeded = run.setup()
        recorded = asyncio.run(run.run(seeded))
    except KeyboardInterrupt:
        log("interrupted")
        run.stop()
        return 2
    except Exception as exc:  # noqa: BLE001 - report, clean up, fail
        log(f"FAILED: {type(exc).__name__}: {exc}")
        run.stop()
        log(f"server logs in {run.log_dir}")
        return 2
    run.stop()
    figures = analyse(recorded)
    wall_s = time.monotonic() - wall
    assert run.layout is not None
    header = [
        f"supportdesk chaos run: {len(recorded.faults)} faults ({', '.join(args.fault_kinds)}), seed {args.seed}, "
        f"code {git_commit()}",
        f"  layout  {'; '.join(run.layout.notes)}",
        f"  load    {args.rate:g} inbound/s ({args.redeliver:.0%} redelivered), {args.reply_rate:g} replies/s "
        f"({args.resend:.0%} resent), consoles {args.consoles}; a fault every {args.interval:g} s; "
        f"{wall_s:.0f} s wall time",
    ]
    text = table(figures, header)
    print(fault_lines(figures), flush=True)
    print(text, flush=True)
    out = Path(args.out) if args.out else RESULTS / f"chaos-{run.stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "started_at": dt.datetime.fromtimestamp(recorded.t0).isoformat(timespec="seconds"),
                "wall_s": round(wall_s, 1),
                "args": {k: v for k, v in vars(args).items()},
                "code": git_commit(),
                "layout": [dataclasses.asdict(p) | {"env": None} for p in run.layout.processes],
                **figures,
                "report": text,
            },
            indent=1,
            default=str,
        )
    )
    log(f"results saved to {out}; server logs in {run.log_dir}")
    return 0 if all(c["met"] for c in figures["checks"].values()) else 1
