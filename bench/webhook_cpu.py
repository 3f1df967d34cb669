"""CPU per Twilio webhook request, in one uvicorn web process (issue 9: the webhook's own cost).

```
.venv/bin/python bench/webhook_cpu.py                          # status callbacks and messages
.venv/bin/python bench/webhook_cpu.py --kind status --requests 5000 --concurrency 16
.venv/bin/python bench/webhook_cpu.py --app supportdesk.asgi:django_asgi_app   # Django alone
```

It drops and recreates its own database (`supportdesk_bench_hook`, `--database`) and flushes its
own Redis db (14, `--redis-url`), migrates, seeds the bench's SMS inbox (bench/seed.py), starts
ONE uvicorn process as bench/run.py starts its web processes (DEBUG=0, DATABASE_POOL on,
TASKS_EAGER=0) and no bus worker, then posts correctly signed webhooks, closed loop with
`--concurrency` requests in flight: a warm-up, then `--requests` of each kind. It reads the web
process's CPU time (user + system, /proc) before and after each kind and prints CPU ms per
request, requests per second and the answer's latency. Every request must be answered 200.

Status callbacks name replies the desk never sent (each is journalled as a receipt, as in
bench/run.py's CALLBACKS phase); messages are unique MessageSids from 500 senders (journalled,
left pending: no bus worker runs). The load generator runs in this process on the same cores:
compare CPU ms, not wall figures, across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import PY, ROOT, Processes, bin_path, free_port, reset_services, server_env, wait_http  # noqa: E402
from bench.stats import pct  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PUBLIC_BASE_URL = "https://bench.supportdesk.test"
AUTH_TOKEN = "bench-twilio-auth-token"
ACCOUNT_SID = "AC" + "b" * 32


def log(msg: str) -> None:
    print(f"[webhook_cpu {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu(pg: str, database: str) -> float:
    """CPU seconds of the database's backends (the web process's pooled connections)."""
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu(pid)
        except OSError:
            pass  # gone, or not ours to read
    return total


def environment(args: argparse.Namespace) -> dict[str, str]:
    return server_env(
        database_url=f"{args.pg}/{args.database}",
        redis_url=args.redis_url,
        DATABASE_POOL_MAX="10",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
    )


def reset(args: argparse.Namespace, env: dict[str, str]) -> dict:
    log(f"resetting database {args.database} and Redis {args.redis_url}")
    reset_services(pg=args.pg, database=args.database, redis_url=args.redis_url, env=env)
    out = subprocess.run(
        [PY, str(ROOT / "bench" / "seed.py"), "--agents", "1"], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def make_request(kind: str, seq: int, inbox_address: str) -> tuple[str, bytes, dict[str, str]]:
    from twilio.request_validator import RequestValidator

    sid = "SM" + uuid.uuid4().hex
    if kind == "status":
        status = ("sent", "delivered")[seq % 2]
        path = "/webhooks/twilio/status"
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": inbox_address,
            "To": f"+1415555{seq % 500:04d}",
            "ApiVersion": "2010-04-01",
        }
    else:
        path = "/webhooks/twilio/messages"
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+1415555{seq % 500:04d}",
            "To": inbox_address,
            "Body": f"bench {seq} hello from webhook_cpu",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    return path, urlencode(params).encode(), headers


async def load(base: str, requests: list[tuple[str, bytes, dict[str, str]]], concurrency: int) -> list[float]:
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = iter(requests)

    async def worker(session: aiohttp.ClientSession) -> None:
        for path, body, headers in queue:
            started = time.perf_counter()
            async with session.post(base + path, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    if errors:
        raise RuntimeError(f"answers other than 200: {errors}")
    return latencies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["status", "messages", "both"], default="both")
    p.add_argument("--requests", type=int, default=3000, help="timed requests per kind (default 3000)")
    p.add_argument("--warmup", type=int, default=300, help="untimed requests first (default 300)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--database", default="supportdesk_bench_hook")
    p.add_argument("--pg", default="postgres://postgres@localhost:5432")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    p.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    p.add_argument(
        "--app",
        default="supportdesk.asgi:application",
        help="the ASGI app uvicorn serves (default supportdesk.asgi:application, with the lean webhook "
        "front; supportdesk.asgi:django_asgi_app is Django's handler alone, the path before it)",
    )
    p.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="record the web process with py-spy during each timed run: PREFIX-<kind>.txt (collapsed stacks)",
    )
    args = p.parse_args()

    env = environment(args)
    seeded = reset(args, env)
    inbox_address = seeded["inbox_address"]
    port = args.port or free_port()
    procs = Processes(Path(tempfile.mkdtemp(prefix="webhook_cpu-")))
    web = procs.start(
        "web",
        [
            bin_path("uvicorn"),
            args.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
    )
    results = {}
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, procs)
        base = f"http://127.0.0.1:{port}"
        kinds = ["status", "messages"] if args.kind == "both" else [args.kind]
        for kind in kinds:
            warm = [make_request(kind, -i - 1, inbox_address) for i in range(args.warmup)]
            asyncio.run(load(base, warm, args.concurrency))
            timed = [make_request(kind, i, inbox_address) for i in range(args.requests)]
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [bin_path("py-spy"), "record", "-p", str(web.pid), "-r", "250", "--gil", "--nonblocking"]
                    + ["-f", "raw", "-o", f"{args.py_spy}-{kind}.txt"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            pg0 = postgres_cpu(args.pg, args.database)
            cpu0, wall0 = process_cpu(web.pid), time.perf_counter()
            latencies = asyncio.run(load(base, timed, args.concurrency))
            cpu1, wall1 = process_cpu(web.pid), time.perf_counter()
            pg1 = postgres_cpu(args.pg, args.database)
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
                spy.wait(timeout=30)
            results[kind] = {
                "requests": args.requests,
                "cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / args.requests, 3),
                # Backends that lived through the run (the pool keeps them); a new one's earlier CPU is not ours.
                "postgres_cpu_ms_per_request": round(max(0.0, pg1 - pg0) * 1000 / args.requests, 3),
                "requests_per_s": round(args.requests / (wall1 - wall0), 1),
                "p50_ms": round(pct(latencies, 50) * 1000, 2),
                "p99_ms": round(pct(latencies, 99) * 1000, 2),
            }
            r = results[kind]
            log(
                f"{kind:8} {r['requests']} requests, {args.concurrency} in flight: web CPU "
                f"{r['cpu_ms_per_request']:.3f} ms/request (PostgreSQL backends "
                f"{r['postgres_cpu_ms_per_request']:.3f}), {r['requests_per_s']:.0f} requests/s, "
                f"answer p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms"
            )
    finally:
        procs.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
