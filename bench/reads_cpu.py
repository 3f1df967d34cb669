"""CPU milliseconds per API read, in one process, through the whole ASGI application (issue 14).

    .venv/bin/python bench/reads_cpu.py /api/v1/conversations "view=all&sort=recent"
    .venv/bin/python bench/reads_cpu.py /api/v1/contacts "q=zoe" --database supportdesk_reads

Drives supportdesk.asgi.application in-process (no sockets, no uvicorn) against the database
bench/reads.py seeded, as its agent00: 10 warm-up requests, 40 sequential ones (wall min and
p50), then 5 rounds of 8 requests at once (as 8 clients), and prints the process's CPU time
(every thread: the event loop, the request threads, psycopg's) per request — the lowest round.
On a machine shared with other work, CPU per request moves much less than latencies do; run it
from another checkout (cd there, same command) to compare two versions on the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path")
    p.add_argument("query", nargs="?", default="")
    p.add_argument("--pg", default="postgres://postgres@localhost:5432")
    p.add_argument("--database", default="supportdesk_reads")
    p.add_argument("--requests", type=int, default=48, help="per round")
    args = p.parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        DATABASE_URL=f"{args.pg}/{args.database}",
        DATABASE_POOL="1",
        DATABASE_POOL_MAX="10",
        DEBUG="0",
        SECRET_KEY="reads-bench-not-a-secret-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DATABASE_JIT="off",
        REDIS_URL="redis://127.0.0.1:6379/13",
        TASKS_EAGER="0",
    )
    warnings.filterwarnings("ignore")
    from supportdesk.asgi import application

    token = json.loads((RESULTS / f"{args.database}-seed.json").read_text())["agents"][0]["token"]

    async def one() -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": args.path,
            "raw_path": args.path.encode(),
            "query_string": args.query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode())],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        out: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            out.append(message)

        await application(scope, receive, send)
        if out[0]["status"] != 200:
            raise SystemExit(f"{args.path}?{args.query}: {out[0]['status']} {out[1:2]}")

    async def run() -> None:
        for _ in range(10):
            await one()
        walls = []
        for _ in range(40):
            start = time.perf_counter()
            await one()
            walls.append((time.perf_counter() - start) * 1000)
        walls.sort()
        best = float("inf")
        rounds = max(args.requests // 8, 1)
        for _ in range(5):
            start = time.process_time()
            for _ in range(rounds):
                await asyncio.gather(*(one() for _ in range(8)))
            best = min(best, (time.process_time() - start) * 1000 / (8 * rounds))
        print(
            f"{ROOT.name} {args.path}?{args.query}: {best:.2f} ms CPU per request (lowest of 5 rounds of 8 at once); "
            f"sequential wall min {walls[0]:.1f} / p50 {walls[20]:.1f} ms"
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
