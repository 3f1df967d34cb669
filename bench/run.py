"""`make bench`: the inbound pipeline under load, beside a minimal baseline, on PostgreSQL + Redis.

One command. It
  1. resets a PostgreSQL database for the bench (default supportdesk_bench) and a Redis db,
     migrates, seeds an SMS inbox and K agents with API tokens (bench/seed.py);
  2. starts the production layout: N uvicorn web processes (one port each) and M bus workers
     (`manage.py run_bus`, which drain the journal and send the outbox; the pipeline needs no
     workers, DEBUG=0, DATABASE_POOL on, TASKS_EAGER=0, ROOT_URLCONF=bench.urls (the project's
     URLs plus the bench-only baseline view, bench/baseline.py);
  3. runs bench/loadgen.py in its own process: K console WebSockets, then signed Twilio
     webhooks at a fixed rate (open loop) and at the most the pipeline sustains (closed loop on
     delivery, bounded in-flight window), against the pipeline and against the baseline;
  4. prints the figures beside the targets, saves them to bench/results/bench-<time>.json, and
     stops every process it started (process groups; also on Ctrl-C or an error).

Figures are indicative: everything (servers, PostgreSQL, Redis, the load generator) shares the
machine's cores; the CPU table says who used them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import processes
from bench.processes import PY, ROOT, Processes, bin_path, port_free, server_env, wait_http  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"

# Issue 9's targets, pipeline against the baseline measured in the same run.
TARGET_RATIO = 0.60
TARGET_E2E_P99_MS = 150.0
TARGET_LIGHT_P50_RATIO = 2.0
TARGET_ACK_P99_MS = 50.0

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- arguments -------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_argument_group("load")
    g.add_argument("--rate", type=float, default=100.0, help="open-loop rate in msg/s (default 100)")
    g.add_argument("--duration", type=float, default=30.0, help="seconds of the fixed-rate phases (default 30)")
    g.add_argument("--max-duration", type=float, default=30.0, help="seconds of the max phases (default 30)")
    g.add_argument(
        "--probe-rate",
        type=float,
        default=10.0,
        help="a light open-loop rate, for the latency of one message without queueing (default 10; 0: skip)",
    )
    g.add_argument("--probe-duration", type=float, default=10.0, help="seconds of the probe phases (default 10)")
    g.add_argument(
        "--window",
        type=int,
        default=64,
        help="max mode: messages in flight (sent, not yet seen by a console) (default 64)",
    )
    g.add_argument("--senders", type=int, default=500, help="distinct customer numbers (default 500)")
    g.add_argument("--consoles", type=int, default=4, help="agents with a console socket open (default 4)")
    g.add_argument("--capacity", type=int, default=1000, help="open conversations per agent (default 1000)")
    g.add_argument(
        "--status-rate",
        type=float,
        default=300.0,
        help="status callbacks/s posted beside --rate messages in the pipeline's callbacks phase (default 300; 0 skips it)",
    )
    g.add_argument("--no-rate", action="store_true", help="skip the fixed-rate phases")
    g.add_argument("--no-max", action="store_true", help="skip the max phases")
    g.add_argument("--only", choices=["pipeline", "baseline", "telegram"], help="run one target only")
    g.add_argument("--no-telegram", action="store_true", help="skip the Telegram webhook phases")
    g.add_argument(
        "--no-ws-deflate",
        action="store_true",
        help="console sockets without permessage-deflate (browsers negotiate it; default on)",
    )
    g = p.add_argument_group("server layout")
    g.add_argument("--web", type=int, default=2, help="uvicorn web processes, one port each (default 2)")
    g.add_argument(
        "--workers",
        type=int,
        default=2,
        help="bus worker processes, manage.py run_bus (default 2, as docker-compose.yml)",
    )
    g.add_argument("--batch", type=int, default=100, help="journal entries per batch of a bus worker (default 100)")
    g.add_argument("--send-threads", type=int, default=8, help="send threads per bus worker (default 8)")
    g.add_argument("--web-db-pool", type=int, default=10, help="DATABASE_POOL_MAX of a web process (default 10)")
    g.add_argument("--port", type=int, default=8710, help="first web port (default 8710)")
    g = p.add_argument_group("services")
    g.add_argument("--database", default="supportdesk_bench", help="database to (re)create (default supportdesk_bench)")
    g.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG", "postgres://postgres@localhost:5432"),
        help="PostgreSQL server URL without database (default postgres://postgres@localhost:5432)",
    )
    g.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        help="Redis db the bench owns and flushes (default redis://127.0.0.1:6379/11)",
    )
    g = p.add_argument_group("output")
    g.add_argument("--out", help="results JSON (default bench/results/bench-<time>.json)")
    g.add_argument("--keep-logs", action="store_true", help="keep server logs even when all went well")
    g.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="keep the servers up this many seconds after the run (to attach a profiler)",
    )
    args = p.parse_args(argv)
    args.cpus = cpus
    return args


# --- processes -------------------------------------------------------------------------------


# --- CPU accounting from /proc ------------------------------------------------------------


def proc_table() -> dict[int, tuple[str, int, float]]:
    """pid -> (comm, ppid, cpu seconds) for every process we can read."""
    table: dict[int, tuple[str, int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ppid = int(fields[1])
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        table[int(entry)] = (comm, ppid, cpu)
    return table


def machine_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class CPUMeter:
    """CPU seconds per group of processes between two snapshots, from /proc.

    web, bus, loadgen: the process trees the bench started. postgres: the backends connected
    to the bench database plus the server's own background processes (not other databases'
    backends). redis: the redis-server process, which other users of this Redis share.
    Processes that start during a phase count in full; ones that exit during it are lost.
    """

    def __init__(self, roots: dict[str, list[int]], pg: str, database: str) -> None:
        self.roots, self.pg, self.database = roots, pg, database
        self.conn: Any = None

    def _postgres_pids(self) -> set[int]:
        import psycopg

        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(f"{self.pg}/postgres", autocommit=True)
            rows = self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s OR backend_type <> 'client backend'",
                [self.database],
            ).fetchall()
            return {r[0] for r in rows}
        except Exception:  # noqa: BLE001 - no postgres figure rather than no bench
            return set()

    def snapshot(self) -> dict[str, Any]:
        table = proc_table()
        children: dict[int, list[int]] = {}
        for pid, (_, ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)

        def tree(pid: int) -> set[int]:
            found, stack = set(), [pid]
            while stack:
                current = stack.pop()
                if current in table:
                    found.add(current)
                stack.extend(children.get(current, []))
            return found

        groups = {
            group: set().union(*(tree(pid) for pid in pids)) if pids else set() for group, pids in self.roots.items()
        }
        groups["postgres"] = {pid for pid in self._postgres_pids() if pid in table}
        groups["redis"] = {pid for pid, (comm, _, _) in table.items() if comm.startswith("redis-server")}
        busy, total = machine_jiffies()
        return {
            "cpu": {pid: cpu for pid, (_, _, cpu) in table.items()},
            "groups": groups,
            "busy": busy / CLK_TCK,
            "total": total / CLK_TCK,
            "wall": time.monotonic(),
        }

    @staticmethod
    def usage(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        wall = max(1e-9, after["wall"] - before["wall"])
        usage: dict[str, float] = {}
        for group, pids in after["groups"].items():
            used = sum(after["cpu"][pid] - before["cpu"].get(pid, 0.0) for pid in pids)
            usage[group] = round(used / wall, 3)
        total = after["total"] - before["total"]
        usage["machine_busy_fraction"] = round((after["busy"] - before["busy"]) / total, 3) if total else 0.0
        machine_cores = (after["busy"] - before["busy"]) / wall
        ours = sum(usage[g] for g in after["groups"])
        usage["other"] = round(max(0.0, machine_cores - ours), 3)
        usage["wall_s"] = round(wall, 2)
        return usage

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# --- setup ---------------------------------------------------------------------------------


def reset_services(args: argparse.Namespace, env: dict[str, str]) -> None:
    log(f"resetting database {args.database} and Redis {args.redis_url}")
    processes.reset_services(pg=args.pg, database=args.database, redis_url=args.redis_url, env=env)


def seed(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [PY, str(BENCH / "seed.py"), "--agents", str(args.consoles), "--capacity", str(args.capacity)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def base_env(args: argparse.Namespace) -> dict[str, str]:
    return server_env(
        database_url=f"{args.pg}/{args.database}",
        redis_url=args.redis_url,
        PUBLIC_BASE_URL="https://bench.supportdesk.test",
        TWILIO_AUTH_TOKEN="bench-twilio-auth-token",
        TWILIO_ACCOUNT_SID="AC" + "b" * 32,
        TWILIO_API_BASE_URL="http://127.0.0.1:9",  # never called: inbound only
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9",  # never called: inbound only
        ROOT_URLCONF="bench.urls",
    )


def start_servers(args: argparse.Namespace, env: dict[str, str], procs: Processes) -> dict[str, list[int]]:
    roots: dict[str, list[int]] = {"web": [], "bus": []}
    ports = [args.port + i for i in range(args.web)]
    busy = [p for p in ports if not port_free(p)]
    if busy:
        raise RuntimeError(f"port(s) {busy} already in use; pass --port")
    web_env = dict(env, DATABASE_POOL_MAX=str(args.web_db_pool))
    for i, port in enumerate(ports):
        proc = procs.start(
            f"web{i}",
            [
                bin_path("uvicorn"),
                "supportdesk.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                "warning",
                "--ws-max-size",
                str(1 << 20),
            ],
            web_env,
        )
        roots["web"].append(proc.pid)
    bus_env = dict(
        env,
        DATABASE_POOL_MAX=str(args.send_threads + 4),
        DATABASE_POOL_MIN="2",
        BUS_BATCH_SIZE=str(args.batch),
        BUS_SEND_THREADS=str(args.send_threads),
    )
    for i in range(args.workers):
        proc = procs.start(f"bus{i}", [PY, "manage.py", "run_bus"], bus_env)
        roots["bus"].append(proc.pid)
    for port in ports:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, procs)
    return roots


def phases(args: argparse.Namespace) -> list[dict[str, Any]]:
    # telegram: the same load as Telegram updates posted to a bot's webhook (docs/telegram.md).
    targets = [args.only] if args.only else ["pipeline", "baseline", *([] if args.no_telegram else ["telegram"])]
    specs: list[dict[str, Any]] = []
    for target in targets:
        # Warm every process and pool, and wait for the Celery worker to be up (the drain waits).
        specs.append(
            {"name": f"warmup-{target}", "target": target, "mode": "rate", "rate": 20, "duration": 2, "drain_stall": 60}
        )
    if args.probe_rate and not args.no_rate:
        for target in targets:
            specs.append(
                {
                    "name": f"{target}@{args.probe_rate:g}",
                    "target": target,
                    "mode": "rate",
                    "rate": args.probe_rate,
                    "duration": args.probe_duration,
                }
            )
    if not args.no_rate:
        for target in targets:
            specs.append(
                {
                    "name": f"{target}@{args.rate:g}",
                    "target": target,
                    "mode": "rate",
                    "rate": args.rate,
                    "duration": args.duration,
                }
            )
    if not args.no_rate and args.status_rate and "pipeline" in targets:
        specs.append(
            {
                "name": f"pipeline@{args.rate:g}+callbacks",
                "target": "pipeline",
                "mode": "rate",
                "rate": args.rate,
                "status_rate": args.status_rate,
                "duration": args.duration,
            }
        )
    if not args.no_max:
        for target in targets:
            specs.append(
                {
                    "name": f"{target}-max",
                    "target": target,
                    "mode": "window",
                    "window": args.window,
                    "duration": args.max_duration,
                }
            )
    return specs


# --- the run -------------------------------------------------------------------------------


def run_loadgen(
    args: argparse.Namespace,
    seeded: dict[str, Any],
    roots: dict[str, list[int]],
    procs: Processes,
    env: dict[str, str],
    log_dir: Path,
) -> dict[str, Any]:
    ports = [args.port + i for i in range(args.web)]
    config = {
        "http_urls": [f"http://127.0.0.1:{p}" for p in ports],
        "ws_urls": [f"ws://127.0.0.1:{p}/ws/console/" for p in ports],
        "tokens": [a["token"] for a in seeded["agents"]],
        "public_base_url": env["PUBLIC_BASE_URL"],
        "auth_token": env["TWILIO_AUTH_TOKEN"],
        "inbox_address": seeded["inbox_address"],
        "inbox_id": seeded["inbox_id"],
        "telegram": seeded["telegram"],
        "senders": args.senders,
        "ws_deflate": not args.no_ws_deflate,
        "phases": phases(args),
        "drain_timeout": max(120.0, 4 * max(args.duration, args.max_duration)),
        "drain_stall": 20,
    }
    config_path, out_path = log_dir / "loadgen-config.json", log_dir / "loadgen-out.json"
    config_path.write_text(json.dumps(config, indent=1))
    loadgen = procs.start(
        "loadgen",
        [PY, str(BENCH / "loadgen.py"), str(config_path), str(out_path)],
        dict(env),
        stdout=subprocess.PIPE,
        stderr=None,
    )
    meter = CPUMeter(dict(roots, loadgen=[loadgen.pid]), args.pg, args.database)
    cpu: dict[str, dict[str, float]] = {}
    starts: dict[str, dict[str, Any]] = {}
    assert loadgen.stdout is not None
    for raw in loadgen.stdout:
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("event") == "phase_start":
            starts[line["name"]] = meter.snapshot()
        elif line.get("event") == "phase_end":
            cpu[line["name"]] = meter.usage(starts.pop(line["name"]), meter.snapshot())
            dead = procs.dead()
            if dead:
                log(f"server process(es) died: {', '.join(dead)}")
    code = loadgen.wait()
    meter.close()
    if code != 0:
        raise RuntimeError(f"the load generator failed (exit {code}); see the lines above")
    result = json.loads(out_path.read_text())
    for index, phase in enumerate(result["phases"], start=1):
        phase["cpu_cores"] = cpu.get(phase["name"], {})
        if phase["target"] in ("pipeline", "telegram") and not phase["name"].startswith("warmup"):
            phase["stages"] = stage_breakdown(args, index)
    return result


def stage_breakdown(args: argparse.Namespace, phase_index: int) -> dict[str, Any] | None:
    """Split the pipeline's latency with the database's own timestamps (best effort).

    journal→task: InboundEntry.received_at (the webhook's INSERT) to processed_at (the task
    started on the entry: Celery dispatch, queue wait, pick-up, the per-sender lock);
    task→event: processed_at to the message.created event's created_at (the task's work up to
    its events, which are written last, just before commit).
    """
    import psycopg

    sql = """
        WITH m AS (
            SELECT e.received_at, e.processed_at,
                   (SELECT min(ev.created_at) FROM bus_event ev
                     WHERE ev.type = 'message.created' AND ev.conversation_id = msg.conversation_id
                       AND (ev.data->>'id')::bigint = msg.id) AS event_at
              FROM bus_inboundentry e JOIN conversations_message msg ON msg.id = e.message_id
             WHERE msg.body LIKE %s)
        SELECT count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM event_at - processed_at)),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM event_at - processed_at))
          FROM m"""
    try:
        with psycopg.connect(f"{args.pg}/{args.database}") as conn:
            row = conn.execute(sql, [f"%BNCH{phase_index}x%"]).fetchone()
    except Exception as exc:  # noqa: BLE001 - the models may have moved on; the bench goes on
        log(f"no stage breakdown: {exc}")
        return None
    if not row or not row[0]:
        return None

    def ms(x: Any) -> float | None:
        return None if x is None else round(float(x) * 1000.0, 1)

    return {
        "n": row[0],
        "journal_to_task_ms": {"p50": ms(row[1]), "p99": ms(row[2])},
        "task_to_event_ms": {"p50": ms(row[3]), "p99": ms(row[4])},
    }


# --- the report ----------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("MET" if ok else "MISSED")


def git_state() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "apps", "supportdesk")),
    }


def report(args: argparse.Namespace, result: dict[str, Any], git: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    by = {p["name"]: p for p in result["phases"]}
    pr, br = by.get(f"pipeline@{args.rate:g}"), by.get(f"baseline@{args.rate:g}")
    pm, bm = by.get("pipeline-max"), by.get("baseline-max")

    sustained_p = pm["delivered_per_s"] if pm else None
    sustained_b = bm["delivered_per_s"] if bm else None
    ratio = sustained_p / sustained_b if sustained_p and sustained_b else None
    e2e_p99 = pr["e2e_ms"]["p99"] if pr else None
    lp, lb = by.get(f"pipeline@{args.probe_rate:g}"), by.get(f"baseline@{args.probe_rate:g}")
    light_p, light_b = (lp["e2e_ms"]["p50"] if lp else None), (lb["e2e_ms"]["p50"] if lb else None)
    light_ratio = light_p / light_b if light_p is not None and light_b else None
    pc = by.get(f"pipeline@{args.rate:g}+callbacks")
    ack_p99 = pc["ack_ms"]["p99"] if pc else None
    targets = {
        "ratio_to_baseline": {
            "target": f">= {TARGET_RATIO:.0%} of the baseline's sustained rate",
            "value": None if ratio is None else round(ratio, 3),
            "met": None if ratio is None else ratio >= TARGET_RATIO,
        },
        "e2e_p99_ms_at_rate": {
            "target": f"<= {TARGET_E2E_P99_MS:g} ms at {args.rate:g} msg/s",
            "value": e2e_p99,
            "met": None if e2e_p99 is None else e2e_p99 <= TARGET_E2E_P99_MS,
        },
        "light_p50_ratio": {
            "target": f"webhook→console p50 at {args.probe_rate:g} msg/s <= {TARGET_LIGHT_P50_RATIO:g}x the baseline's",
            "value": None if light_ratio is None else round(light_ratio, 2),
            "met": None if light_ratio is None else light_ratio <= TARGET_LIGHT_P50_RATIO,
        },
        "ack_p99_ms_with_callbacks": {
            "target": f"webhook ack p99 <= {TARGET_ACK_P99_MS:g} ms at {args.rate:g} msg/s + {args.status_rate:g} callbacks/s",
            "value": ack_p99,
            "met": None if ack_p99 is None else ack_p99 <= TARGET_ACK_P99_MS,
        },
    }

    w, c = 32, 17
    lines: list[str] = []

    def row(label: str, p: str, b: str, ratio_s: str = "", target: str = "") -> None:
        lines.append(f"  {label:<{w}} {p:>{c}} {b:>{c}} {ratio_s:>6}   {target}".rstrip())

    def get(d: dict[str, Any] | None, *keys: str, digits: int = 1) -> str:
        if not d:
            return "—"
        values = []
        for key in keys:
            value: Any = d
            for part in key.split("."):
                value = value[part]
            values.append(fmt(value, digits))
        return " / ".join(values)

    def stages(d: dict[str, Any] | None) -> None:
        if d and d.get("stages"):
            row(
                "  journal→task p50 / p99 ms",
                get(d["stages"], "journal_to_task_ms.p50", "journal_to_task_ms.p99"),
                "",
            )
            row("  task→event p50 / p99 ms", get(d["stages"], "task_to_event_ms.p50", "task_to_event_ms.p99"), "")

    def misses(d: dict[str, Any] | None) -> str:
        if not d:
            return "—"
        return f"{d['undelivered']} / {sum(d['errors'].values())} / {d['messages_missing_a_console']}"

    lines.append("")
    lines.append(
        "supportdesk bench: Twilio webhook → journal → bus worker (batches) → message + events → event stream → console sockets"
    )
    lines.append(
        f"  layout   {args.web} uvicorn web process(es), one port each; {args.workers} bus worker(s) "
        f"(run_bus, batch {args.batch}); PostgreSQL + Redis; {args.cpus} CPUs"
    )
    lines.append(
        f"  load     {args.consoles} console sockets (all agents of the inbox), {args.senders} customer numbers; "
        f"code {git.get('commit') or '?'}{' + uncommitted changes' if git.get('dirty') else ''}"
    )
    lines.append(
        "  baseline bench/baseline.py: the same request, one event INSERT (with the event-order lock and doorbell), "
        "fanned out by the same event stream and console hub"
    )
    lines.append("")
    row("", "pipeline", "baseline", "ratio", "target")
    row("-" * w, "-" * c, "-" * c, "-" * 6, "-" * 34)
    if pm or bm:
        ratio_s = f"{ratio:.0%}" if ratio is not None else "—"
        lines.append(f"  MAX: closed loop, at most {args.window} messages in flight, {args.max_duration:g} s")
        row(
            "sustained msg/s (delivered)",
            fmt(sustained_p),
            fmt(sustained_b),
            ratio_s,
            f">= {TARGET_RATIO:.0%} of baseline: {verdict(targets['ratio_to_baseline']['met'])}",
        )
        row("acked/s", get(pm, "acked_per_s"), get(bm, "acked_per_s"))
        row("ack p50 / p99 ms", get(pm, "ack_ms.p50", "ack_ms.p99"), get(bm, "ack_ms.p50", "ack_ms.p99"))
        row(
            "webhook→console p50 / p99 ms",
            get(pm, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            get(bm, "e2e_ms.p50", "e2e_ms.p99", digits=0),
        )
        row("lost / http errors / fan-out gap", misses(pm), misses(bm))
        stages(pm)
    if pr or br:
        lines.append(f"  RATE: open loop, {args.rate:g} msg/s for {args.duration:g} s")
        row("delivered/s over the run", get(pr, "delivered_per_s"), get(br, "delivered_per_s"))
        row("acked/s", get(pr, "acked_per_s"), get(br, "acked_per_s"))
        row("ack p50 / p99 ms", get(pr, "ack_ms.p50", "ack_ms.p99"), get(br, "ack_ms.p50", "ack_ms.p99"))
        row(
            "webhook→console p50 / p99 ms",
            get(pr, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            get(br, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            "",
            f"p99 <= {TARGET_E2E_P99_MS:g} ms: {verdict(targets['e2e_p99_ms_at_rate']['met'])}",
        )
        row("webhook→console max ms", get(pr, "e2e_ms.max", digits=0), get(br, "e2e_ms.max", digits=0))
        row("still queued when sending ended", get(pr, "backlog_after_send"), get(br, "backlog_after_send"))
        row("lost / http errors / fan-out gap", misses(pr), misses(br))
        row("sender lag p99 ms", get(pr, "send_lag_ms.p99"), get(br, "send_lag_ms.p99"))
        stages(pr)
    if pc:
        lines.append(
            f"  CALLBACKS: open loop, {args.rate:g} msg/s and {args.status_rate:g} status callbacks/s for {args.duration:g} s"
        )
        row(
            "message ack p50 / p99 ms",
            get(pc, "ack_ms.p50", "ack_ms.p99"),
            "",
            "",
            f"p99 <= {TARGET_ACK_P99_MS:g} ms: {verdict(targets['ack_p99_ms_with_callbacks']['met'])}",
        )
        row("callback ack p50 / p99 ms", get(pc, "status_ack_ms.p50", "status_ack_ms.p99"), "")
        row("webhook→console p50 / p99 ms", get(pc, "e2e_ms.p50", "e2e_ms.p99", digits=0), "")
        row(
            "lost / http errors / callback errors",
            f"{misses(pc)} / {sum(pc.get('status_errors', {}).values())}",
            "",
        )
    tm, tr = by.get("telegram-max"), by.get(f"telegram@{args.rate:g}")
    if tm or tr:
        lines.append("  TELEGRAM: updates posted to a bot's webhook (secret checked) → journal → … → console sockets")
        row("", "telegram", "baseline", "ratio")
        if tm:
            t_ratio = f"{tm['delivered_per_s'] / sustained_b:.0%}" if tm["delivered_per_s"] and sustained_b else "—"
            row("  MAX sustained msg/s (delivered)", fmt(tm["delivered_per_s"]), fmt(sustained_b), t_ratio)
            row("  MAX webhook→console p50 / p99 ms", get(tm, "e2e_ms.p50", "e2e_ms.p99", digits=0), "")
            row("  MAX lost / http errors / fan-out gap", misses(tm), "")
        if tr:
            row(f"  RATE {args.rate:g}: delivered/s", get(tr, "delivered_per_s"), get(br, "delivered_per_s"))
            row(
                f"  RATE {args.rate:g}: webhook→console p50 / p99 ms",
                get(tr, "e2e_ms.p50", "e2e_ms.p99", digits=0),
                get(br, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            )
        stages(tm or tr)
    lp, lb = by.get(f"pipeline@{args.probe_rate:g}"), by.get(f"baseline@{args.probe_rate:g}")
    if (lp or lb) and args.probe_rate != args.rate:
        lines.append(
            f"  LIGHT: open loop, {args.probe_rate:g} msg/s for {args.probe_duration:g} s (one message's latency, little queueing)"
        )
        row("ack p50 / p99 ms", get(lp, "ack_ms.p50", "ack_ms.p99"), get(lb, "ack_ms.p50", "ack_ms.p99"))
        row(
            "webhook→console p50 / p99 ms",
            get(lp, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            get(lb, "e2e_ms.p50", "e2e_ms.p99", digits=0),
            f"{light_ratio:.1f}x" if light_ratio is not None else "—",
            f"p50 <= {TARGET_LIGHT_P50_RATIO:g}x baseline: {verdict(targets['light_p50_ratio']['met'])}",
        )
        stages(lp)
    lines.append("  (lost: acknowledged, never reached a console; fan-out gap: reached some consoles but not all;")
    lines.append("   journal→task: webhook INSERT to task start; task→event: task start to its message.created row)")
    lines.append("")
    lines.append("  CPU: cores busy, and (CPU ms per delivered message)")
    groups = ["web", "bus", "postgres", "redis", "loadgen"]
    lines.append(f"  {'phase':<16}" + "".join(f"{g:>15}" for g in groups) + f"{'other':>8}{'machine':>9}")
    for phase in result["phases"]:
        if phase["name"].startswith("warmup"):
            continue
        usage = phase.get("cpu_cores") or {}
        rate = phase["delivered_per_s"] or 0
        cells = []
        for g in groups:
            cores = usage.get(g)
            per_msg = f"({cores / rate * 1000:.1f})" if cores is not None and rate else ""
            cells.append(f"{fmt(cores, 2):>7}{per_msg:>8}")
        lines.append(
            f"  {phase['name']:<16}" + "".join(cells) + f"{fmt(usage.get('other'), 2):>8}"
            f"{usage.get('machine_busy_fraction', 0):>9.0%}"
        )
    lines.append("  (postgres: the bench database's backends + server processes; redis: the whole server;")
    lines.append("   other: the rest of the machine's busy time — other programs, kernel networking)")
    odd = result.get("odd_frames") or {}
    if odd:
        lines.append(f"  console frames of note: {odd}")
    lines.append("")
    return "\n".join(lines), targets


def main(argv: list[str]) -> int:
    if "--reads" in argv:  # make bench BENCH_ARGS="--reads …": the read side (bench/reads.py)
        from bench import reads

        reads.main([a for a in argv if a != "--reads"])
        return 0
    args = parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    log_dir = RESULTS / f"logs-{stamp}"
    log_dir.mkdir()
    env = base_env(args)
    procs = Processes(log_dir)
    procs.ignore_dead.add("loadgen")
    ok = False

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        reset_services(args, env)
        seeded = seed(args, env)
        log(f"seeded inbox {seeded['inbox_id']} ({seeded['inbox_address']}) and {len(seeded['agents'])} agents")
        roots = start_servers(args, env, procs)
        log(
            f"servers up: {args.web} web on :{args.port}-{args.port + args.web - 1}, "
            f"{args.workers} bus worker(s) (run_bus, batch {args.batch})"
        )
        started = time.time()
        result = run_loadgen(args, seeded, roots, procs, env, log_dir)
        if args.hold:
            log(f"holding the servers for {args.hold:g} s (pids: {roots})")
            time.sleep(args.hold)
        git = git_state()
        text, targets = report(args, result, git)
        print(text, flush=True)
        out = Path(args.out) if args.out else RESULTS / f"bench-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "started_at": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
                    "args": {k: v for k, v in vars(args).items()},
                    "git": git,
                    "targets": targets,
                    "phases": result["phases"],
                    "odd_frames": result.get("odd_frames"),
                    "report": text,
                },
                indent=1,
            )
        )
        log(f"results saved to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        ok = True
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - report, clean up, fail
        log(f"FAILED: {exc}")
        return 1
    finally:
        procs.stop()
        if ok and not args.keep_logs:
            for path in log_dir.iterdir():
                path.unlink()
            log_dir.rmdir()
        elif not ok:
            log(f"server logs kept in {log_dir}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
