"""Every read the console makes, timed at 1M conversations / 10M messages (issue 14).

    .venv/bin/python bench/reads.py --seed              # seed (bench/reads_seed.py), then bench
    .venv/bin/python bench/reads.py                     # bench the database seeded before
    .venv/bin/python bench/reads.py --seed --scale 0.01 --requests 50   # a quick run
    make bench BENCH_ARGS="--reads"                     # the same, from make (run.py passes it on)

Starts `--web` (2) `manage.py serve` processes with DEBUG=0 on the seeded database
(`supportdesk_reads`, bench/reads_seed.py; its answer is kept in bench/results/<database>-seed.json),
then for each read:
- sequential: `--requests` (200) requests one at a time, round-robin over the processes;
- concurrent: `--requests` requests from `--clients` (8) clients at once over the processes;
and last, the list requests per second one process serves to `--clients` clients for
`--rps-seconds` (10). Prints p50/p95/p99 (ms) beside the targets (sequential p95 <= 100 ms,
concurrent p95 <= 250 ms, >= 150 list requests/s) and writes bench/results/reads-<time>.json.
`--drop` drops the database at the end. `--jit on|off|server` sets DATABASE_JIT for the servers (default off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import PY, Processes, clean_environ, port_free, server_env, wait_http  # noqa: E402
from bench.reads_seed import seed_info  # noqa: E402
from bench.stats import pct  # noqa: E402

RESULTS = ROOT / "bench" / "results"


SEQ_TARGET, CONC_TARGET, RPS_TARGET = 100.0, 250.0, 150.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg", default="postgres://postgres@localhost:5432")
    p.add_argument("--database", default="supportdesk_reads")
    p.add_argument("--seed", action="store_true", help="(re)seed the database first")
    p.add_argument("--scale", type=float, default=1.0, help="with --seed: 1 = 1M conversations")
    p.add_argument("--drop", action="store_true", help="drop the database at the end")
    p.add_argument("--web", type=int, default=2)
    p.add_argument("--port", type=int, default=8760)
    p.add_argument("--requests", type=int, default=200, help="per read and mode")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rps-seconds", type=float, default=10.0)
    p.add_argument("--only", default="", help="comma-separated substrings of read names")
    p.add_argument("--no-concurrent", action="store_true")
    p.add_argument("--jit", choices=["on", "off", "server"], default="off", help="DATABASE_JIT of the servers")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    return p.parse_args(argv)


def seed(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [PY, str(ROOT / "bench" / "reads_seed.py"), "--pg", args.pg, "--database", args.database]
        + ["--scale", str(args.scale)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_environ(),
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def reads_env(args: argparse.Namespace) -> dict[str, str]:
    return server_env(
        database_url=f"{args.pg}/{args.database}",
        redis_url=args.redis_url,
        secret_key="reads-bench-not-a-secret-" + "x" * 40,
        DATABASE_POOL_MAX="10",
        DATABASE_JIT=args.jit,
    )


class Client:
    def __init__(self, ports: list[int], token: str) -> None:
        import aiohttp

        self.ports = ports
        self.headers = {"Authorization": f"Token {token}"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.turn = 0

    async def get(self, path: str, port: int | None = None) -> tuple[float, Any]:
        if port is None:
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
        start = time.perf_counter()
        async with self.session.get(f"http://127.0.0.1:{port}/api/v1/{path}", headers=self.headers) as response:
            body = await response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
        return elapsed, body

    async def json(self, path: str) -> Any:
        return json.loads((await self.get(path))[1])

    async def close(self) -> None:
        await self.session.close()


async def deep_cursor(client: Client, query: dict[str, Any], page: int) -> str:
    """The `before` of page `page` (1-based) of a list, walking the pages as the console does."""
    cursor = None
    for _ in range(page - 1):
        body = await client.json("conversations?" + urlencode({**query, **({"before": cursor} if cursor else {})}))
        cursor = body["next"]
        if cursor is None:
            raise RuntimeError(f"the list {query} has fewer than {page} pages")
    assert cursor is not None
    return cursor


async def reads(client: Client, info: dict[str, Any], deep: int) -> list[tuple[str, str]]:
    """(name, path) of every read the console makes."""
    agents = info["agents"]
    items: list[tuple[str, str]] = []
    for view in ("all", "mine", "unassigned", f"team:{info['team_id']}"):
        for sort in ("recent", "waiting", "due"):
            query = {"view": view, "sort": sort}
            items.append((f"list {view.split(':')[0]} {sort} p1", "conversations?" + urlencode(query)))
            cursor = await deep_cursor(client, query, deep)
            items.append(
                (f"list {view.split(':')[0]} {sort} p{deep}", "conversations?" + urlencode({**query, "before": cursor}))
            )
    for name, query in [
        ("status=open", {"status": "open"}),
        ("status=pending", {"status": "pending"}),
        ("status=snoozed", {"status": "snoozed"}),
        ("status=resolved", {"status": "resolved"}),
        ("channel=phone", {"channel": "phone"}),
        ("channel=email (none)", {"channel": "email"}),
        ("inbox", {"inbox": info["inbox_id"]}),
        ("assignee=me", {"assignee": "me"}),
        ("assignee=none", {"assignee": "none"}),
        ("assignee=other", {"assignee": agents[1]["id"]}),
        ("mine+open waiting", {"view": "mine", "status": "open", "sort": "waiting"}),
        ("mine+open due", {"view": "mine", "status": "open", "sort": "due"}),
    ]:
        items.append((f"filter {name}", "conversations?" + urlencode(query)))
    typical, heavy = info["typical_contact"], info["heavy_contact"]
    conversation = (await client.json("conversations?" + urlencode({"view": "mine", "limit": 1})))["results"][0]
    items.append(("conversation detail", f"conversations/{conversation['id']}"))
    items.append(("conversation messages", f"conversations/{conversation['id']}/messages"))
    items.append(("timeline typical contact", f"contacts/{typical}/timeline?newest=1&limit=100"))
    items.append(("timeline heavy contact", f"contacts/{heavy}/timeline?newest=1&limit=100"))
    page = await client.json(f"contacts/{heavy}/timeline?newest=1&limit=100")
    for _ in range(9):  # the 10th "Earlier messages" page
        page = await client.json(f"contacts/{heavy}/timeline?before={page['previous']}&limit=100")
    items.append(
        ("timeline heavy, 10th earlier page", f"contacts/{heavy}/timeline?before={page['previous']}&limit=100")
    )
    items.append(("contact detail", f"contacts/{heavy}"))
    items.append(("contact conversations (heavy)", f"contacts/{heavy}/conversations"))
    contact = await client.json(f"contacts/{typical}")
    phone = next(i["address"] for i in contact["identities"] if i["kind"] == "phone")
    email = next(i["address"] for i in contact["identities"] if i["kind"] == "email")
    national = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    first, last = contact["name"].split(" ", 1)
    for name, q in [
        ("search surname", last),
        ("search full name", contact["name"]),
        ("search first name prefix", first[:3].lower()),
        ("search two letters", first[:2].lower()),  # the shortest query: no trigram to look up
        ("search email", email),
        ("search email part", email.split("@")[0][-8:]),
        ("search phone E.164", phone),
        ("search phone national", national),
        ("search phone dashes", f"{phone[2:5]}-{phone[5:8]}-{phone[8:]}"),
        ("search phone last 7 digits", phone[-7:]),
        ("search no match", "qqxzv"),
    ]:
        items.append((name, "contacts?" + urlencode({"q": q})))
    items.append(("unread", "unread"))
    first_event = int(info.get("first_event", 1))
    items.append(("events since an old id", f"events?since={first_event}"))
    items.append(("me", "me"))
    items.append(("labels", "labels"))
    items.append(("agents", "agents"))
    items.append(("teams", "teams"))
    items.append(("inboxes", "inboxes"))
    return items


async def sequential(client: Client, path: str, n: int) -> list[float]:
    return [(await client.get(path))[0] for _ in range(n)]


async def concurrent(client: Client, path: str, n: int, clients: int) -> list[float]:
    times: list[float] = []
    left = [n]

    async def worker(index: int) -> None:
        port = client.ports[index % len(client.ports)]
        while left[0] > 0:
            left[0] -= 1
            times.append((await client.get(path, port=port))[0])

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def rps(client: Client, path: str, clients: int, seconds: float, pid: int | None = None) -> tuple[float, float]:
    """Requests per second one process (the first) serves to `clients` clients, and that
    process's CPU milliseconds per request."""
    port = client.ports[0]
    done = [0]
    stop = time.monotonic() + seconds
    cpu_before = cpu_seconds(pid) if pid else float("nan")

    async def worker() -> None:
        while time.monotonic() < stop:
            await client.get(path, port=port)
            done[0] += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    cpu = (cpu_seconds(pid) - cpu_before) if pid else float("nan")
    return done[0] / (time.monotonic() - start), cpu * 1000 / max(done[0], 1)


def fmt(values: list[float]) -> str:
    return f"{pct(values, 50):7.1f} {pct(values, 95):7.1f} {pct(values, 99):7.1f}"


async def bench(
    args: argparse.Namespace, info: dict[str, Any], ports: list[int], pid: int | None = None
) -> dict[str, Any]:
    client = Client(ports, info["agents"][0]["token"])
    try:
        deep = 50 if info["counts"]["conversations"] >= 200_000 else 5
        items = await reads(client, info, deep)
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            items = [(n, p) for n, p in items if any(w in n for w in wanted)]
        results: dict[str, Any] = {}
        print(f"{'read':40} {'sequential p50/p95/p99 ms':>26}   {'8 clients p50/p95/p99 ms':>26}", flush=True)
        for name, path in items:
            for _ in range(5):  # warm: pools, caches, plans
                await client.get(path)
            seq = await sequential(client, path, args.requests)
            conc = [] if args.no_concurrent else await concurrent(client, path, args.requests, args.clients)
            flag = " " if pct(seq, 95) <= SEQ_TARGET else "!"
            cflag = " " if not conc or pct(conc, 95) <= CONC_TARGET else "!"
            print(f"{name:40} {fmt(seq)} {flag}   {fmt(conc) if conc else '':>23} {cflag}", flush=True)
            results[name] = {
                "path": path,
                "sequential": {q: pct(seq, q) for q in (50, 95, 99)},
                "concurrent": {q: pct(conc, q) for q in (50, 95, 99)} if conc else None,
            }
        list_path = "conversations?" + urlencode({"view": "all", "sort": "recent"})
        per_second, cpu_ms = await rps(client, list_path, args.clients, args.rps_seconds, pid)
        print(
            f"\none process, {args.clients} clients, {list_path}: {per_second:.0f} requests/s "
            f"(target >= {RPS_TARGET:.0f}), {cpu_ms:.1f} ms of that process's CPU per request",
            flush=True,
        )
        missed = [n for n, r in results.items() if r["sequential"][95] > SEQ_TARGET]
        cmissed = [n for n, r in results.items() if r["concurrent"] and r["concurrent"][95] > CONC_TARGET]
        print(f"sequential p95 > {SEQ_TARGET:.0f} ms: {', '.join(missed) or 'none'}")
        print(f"{args.clients} clients p95 > {CONC_TARGET:.0f} ms: {', '.join(cmissed) or 'none'}")
        return {"reads": results, "list_rps_one_process": per_second, "list_cpu_ms_per_request": cpu_ms}
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.seed or not seed_info(args.database).exists():
        info = seed(args)
    else:
        info = json.loads(seed_info(args.database).read_text())
    import psycopg

    with psycopg.connect(f"{args.pg}/{args.database}") as conn:
        row = conn.execute("SELECT min(id) FROM bus_event").fetchone()
        info["first_event"] = row[0] if row and row[0] else 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"reads-logs-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = Processes(log_dir)
    ports = [args.port + i for i in range(args.web)]
    busy = [p for p in ports if not port_free(p)]
    if busy:
        raise SystemExit(f"port(s) {busy} already in use; pass --port")
    env = reads_env(args)
    try:
        for i, port in enumerate(ports):
            procs.start(f"web{i}", [PY, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)], env)
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz", 60, procs)
        figures = asyncio.run(bench(args, info, ports, procs.items["web0"].pid))
        figures.update(counts=info["counts"], jit=args.jit, web=args.web, clients=args.clients, requests=args.requests)
        out = RESULTS / f"reads-{stamp}.json"
        out.write_text(json.dumps(figures, indent=2))
        print(f"written {out}")
    finally:
        procs.stop()
        if args.drop:
            subprocess.run(
                [PY, str(ROOT / "bench" / "reads_seed.py"), "--pg", args.pg, "--database", args.database, "--drop"],
                check=False,
                env=clean_environ(),
            )
            seed_info(args.database).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
