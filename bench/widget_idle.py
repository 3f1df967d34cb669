"""Idle widget sockets on one `manage.py serve` process: how many it holds, and what each costs.

    .venv/bin/python bench/widget_idle.py                 # 10,000 sockets (the target)
    .venv/bin/python bench/widget_idle.py -n 2000 --idle 30

Target (issue 4): >= 10,000 idle visitor sockets per ASGI process at <= 40 KiB each.

1. Drops and recreates its own PostgreSQL database (`supportdesk_widget_bench`, `--database`),
   flushes its own Redis db (13, `--redis-url`), migrates, and seeds one widget inbox with N
   visitors (bulk inserts: contact, widget identity, visitor with the sha256 of a fresh token).
2. Starts ONE server exactly as `make run` does — `manage.py serve` (uvicorn) — on PostgreSQL
   and Redis (DEBUG=0, TASKS_EAGER=0, so no in-process periodic work), WIDGET_RATE_CONNECTS
   lifted (every socket comes from 127.0.0.1), the default 30 s widget heartbeat.
3. Opens `--warm` sockets first and reads the server's RSS (/proc/<pid>/status): that is the
   base, with the hub, the channel layer and the code paths already warm. Then opens the rest,
   `--concurrency` handshakes at a time, each one a different visitor
   (`/ws/widget/?inbox=…&token=…`, with an allowed Origin), and waits for each `hello`.
4. Lets them sit for `--idle` seconds (default 75: two heartbeat rounds and a keepalive ping;
   every client reads its frames and answers pings), then reads RSS again, counts the sockets
   still open (a `ping` action to each must come back as `pong`), the server's open file
   descriptors, and its CPU time over the idle window.
5. Prints the figures, writes bench/results/widget-idle-<time>.json, and stops the server.

KiB per socket = (RSS with all sockets - base RSS) / (sockets opened after the base). The client
runs in this process (asyncio; uvloop when present); its own memory is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import reset_services, server_env  # noqa: E402

PY = sys.executable
RESULTS = ROOT / "bench" / "results"
ORIGIN = "https://shop.bench.test"
TARGET_SOCKETS = 10_000
TARGET_KIB = 40.0


def log(msg: str) -> None:
    print(f"[widget-idle {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/widget_idle.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--sockets", type=int, default=TARGET_SOCKETS, help="sockets to open (default 10000)")
    p.add_argument("--warm", type=int, default=200, help="sockets opened before the base RSS (default 200)")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes in flight (default 200)")
    p.add_argument("--idle", type=float, default=75.0, help="seconds to hold them idle (default 75)")
    p.add_argument("--port", type=int, default=8730)
    p.add_argument("--database", default="supportdesk_widget_bench")
    p.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@localhost:5432"))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_WIDGET_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--keep-db", action="store_true", help="reuse the database and visitors of a previous run")
    p.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def widget_env(args: argparse.Namespace) -> dict[str, str]:
    return server_env(
        database_url=f"{args.pg}/{args.database}",
        redis_url=args.redis_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{args.port}",
        WIDGET_RATE_CONNECTS=f"{10 * args.sockets}/60",
    )


# --- seeding (runs in a child process with Django set up) --------------------------------------


def seed(count: int) -> None:
    """One widget inbox and `count` visitors; prints {"inbox": key, "tokens": [...]}."""
    import hashlib
    import secrets

    import django

    django.setup()
    from apps.accounts.models import Inbox
    from apps.contacts.models import Contact, Identity
    from apps.widget.models import Visitor, WidgetSettings, new_public_id

    inbox = Inbox.objects.create(name="Bench widget", channel=Inbox.Channel.WIDGET, address="")
    WidgetSettings.objects.create(inbox=inbox, allowed_origins=ORIGIN)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    public_ids = [new_public_id() for _ in range(count)]
    contacts = Contact.objects.bulk_create([Contact(name=f"Visitor {i}") for i in range(count)], batch_size=2000)
    identities = Identity.objects.bulk_create(
        [
            Identity(contact=c, kind=Identity.Kind.WIDGET, address=pid, display=pid)
            for c, pid in zip(contacts, public_ids, strict=True)
        ],
        batch_size=2000,
    )
    Visitor.objects.bulk_create(
        [
            Visitor(inbox=inbox, public_id=pid, token_hash=hashlib.sha256(t.encode()).hexdigest(), identity=i)
            for t, pid, i in zip(tokens, public_ids, identities, strict=True)
        ],
        batch_size=2000,
    )
    print(json.dumps({"inbox": inbox.key, "tokens": tokens}))


def reset_and_seed(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cache = RESULTS / f"widget-idle-{args.database}.json"
    if args.keep_db and cache.exists():
        data = json.loads(cache.read_text())
        if len(data["tokens"]) >= args.sockets:
            return data
    log(f"resetting database {args.database} and Redis {args.redis_url}")
    reset_services(pg=args.pg, database=args.database, redis_url=args.redis_url, env=env)
    log(f"seeding {args.sockets} visitors")
    out = subprocess.run(
        [PY, __file__, "--seed-only", "-n", str(args.sockets)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(data))
    return data


# --- the server --------------------------------------------------------------------------------


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_server(args: argparse.Namespace, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    if not port_free(args.port):
        raise RuntimeError(f"port {args.port} is in use; pass --port")
    out = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [PY, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(args.port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the client --------------------------------------------------------------------------------


class Client:
    """N idle visitors: each connects, waits for hello, then only reads (heartbeats, pongs)."""

    def __init__(self, url: str, inbox: str) -> None:
        self.url = url
        self.inbox = inbox
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.failures: dict[str, int] = {}
        self.heartbeats = 0
        self.pongs: dict[int, asyncio.Future[None]] = {}

    async def open(self, tokens: list[str], concurrency: int) -> float:
        """Open one socket per token; returns the seconds it took."""
        from websockets.asyncio.client import connect

        queue = list(reversed(tokens))

        async def worker() -> None:
            while queue:
                token = queue.pop()
                try:
                    ws = await connect(
                        f"{self.url}/ws/widget/?inbox={self.inbox}&token={token}",
                        origin=ORIGIN,  # type: ignore[arg-type]
                        compression=None,
                        ping_interval=None,  # the server pings; the client answers
                        open_timeout=60,
                        max_queue=4,
                    )
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if hello.get("type") != "hello":
                        raise RuntimeError(f"first frame {hello}")
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    name = f"{type(exc).__name__}: {str(exc)[:80]}"
                    self.failures[name] = self.failures.get(name, 0) + 1
                    continue
                index = len(self.sockets)
                self.sockets.append(ws)
                self.readers.append(asyncio.ensure_future(self.read(index, ws)))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.monotonic() - started

    async def read(self, index: int, ws: Any) -> None:
        try:
            async for text in ws:
                frame = json.loads(text)
                if frame.get("type") == "heartbeat":
                    self.heartbeats += 1
                elif frame.get("type") == "pong" and index in self.pongs:
                    self.pongs.pop(index).set_result(None)
        except Exception:  # noqa: BLE001 - the socket closed; counted by check()
            pass

    async def check(self, concurrency: int) -> int:
        """How many sockets still answer a `ping` action with a `pong`."""
        alive = 0
        loop = asyncio.get_running_loop()
        for start in range(0, len(self.sockets), concurrency):
            batch = list(enumerate(self.sockets))[start : start + concurrency]
            waits = []
            for index, ws in batch:
                self.pongs[index] = loop.create_future()
                try:
                    await ws.send('{"action": "ping"}')
                except Exception:  # noqa: BLE001
                    self.pongs.pop(index).cancel()
                    continue
                waits.append(self.pongs[index])
            done, pending = await asyncio.wait(waits, timeout=30) if waits else (set(), set())
            alive += sum(1 for f in done if not f.cancelled())
            for future in pending:
                future.cancel()
        return alive

    async def close(self) -> None:
        for start in range(0, len(self.sockets), 500):
            await asyncio.gather(*(ws.close() for ws in self.sockets[start : start + 500]), return_exceptions=True)
        for reader in self.readers:
            reader.cancel()


async def measure(args: argparse.Namespace, inbox: str, tokens: list[str], pid: int) -> dict[str, Any]:
    client = Client(f"ws://127.0.0.1:{args.port}", inbox)
    rss_start = rss_kib(pid)
    await client.open(tokens[: args.warm], min(args.concurrency, args.warm))
    await asyncio.sleep(3)
    rss_base = rss_kib(pid)
    log(f"{len(client.sockets)} warm sockets; server RSS {rss_start} -> {rss_base} KiB (base)")
    rest = tokens[args.warm : args.sockets]
    log(f"opening {len(rest)} more, {args.concurrency} handshakes at a time")
    seconds = await client.open(rest, args.concurrency)
    opened = len(client.sockets)
    log(f"{opened} open after {seconds:.1f} s ({len(rest) / seconds:.0f}/s); failures {client.failures or 'none'}")
    await asyncio.sleep(5)
    rss_full = rss_kib(pid)
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    heartbeats_before = client.heartbeats
    log(f"holding them idle for {args.idle:.0f} s")
    await asyncio.sleep(args.idle)
    idle_cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
    heartbeats = client.heartbeats - heartbeats_before
    rss_idle = rss_kib(pid)
    fds = open_fds(pid)
    alive = await client.check(args.concurrency)
    log(f"{alive} of {opened} answer a ping after the idle window")
    await client.close()
    after_warm = max(opened - min(args.warm, opened), 1)
    return {
        "sockets_requested": args.sockets,
        "sockets_opened": opened,
        "sockets_alive_after_idle": alive,
        "connect_failures": client.failures,
        "connect_seconds": round(seconds, 2),
        "connects_per_second": round(len(rest) / seconds, 1) if seconds else None,
        "server_rss_kib": {"start": rss_start, "base": rss_base, "all_open": rss_full, "after_idle": rss_idle},
        "kib_per_socket": round((max(rss_full, rss_idle) - rss_base) / after_warm, 2),
        "kib_per_socket_including_warm": round((max(rss_full, rss_idle) - rss_start) / max(opened, 1), 2),
        "server_open_fds": fds,
        "idle_seconds": args.idle,
        "idle_cpu_percent_of_one_core": round(100 * idle_cpu, 2),
        "heartbeats_received_while_idle": heartbeats,
    }


def raise_own_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < need + 100:
        log(f"warning: this process may open {soft} files; {need} sockets need more (raise the hard limit)")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.seed_only:
        seed(args.sockets)
        return 0
    raise_own_fd_limit(args.sockets)
    env = widget_env(args)
    data = reset_and_seed(args, env)
    tokens = data["tokens"][: args.sockets]
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = RESULTS / f"widget-idle-{stamp}-server.log"
    proc = start_server(args, env, log_path)
    log(f"server pid {proc.pid} on :{args.port}")
    try:
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        figures = runner(measure(args, data["inbox"], tokens, proc.pid))
    finally:
        stop_server(proc)
    figures["server_command"] = "manage.py serve (uvicorn, websockets-sansio, no deflate, ping 60 s)"
    figures["meets_target"] = (
        figures["sockets_alive_after_idle"] >= TARGET_SOCKETS and figures["kib_per_socket"] <= TARGET_KIB
    )
    out = RESULTS / f"widget-idle-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    log(
        f"{figures['sockets_alive_after_idle']} idle sockets held, {figures['kib_per_socket']} KiB each "
        f"(target >= {TARGET_SOCKETS} at <= {TARGET_KIB:.0f} KiB), idle CPU "
        f"{figures['idle_cpu_percent_of_one_core']} % of a core -> {out.relative_to(ROOT)}"
    )
    return 0 if figures["sockets_alive_after_idle"] == figures["sockets_opened"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
