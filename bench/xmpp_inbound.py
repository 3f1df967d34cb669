"""XMPP in under load: messages per second from customers' XMPP clients, through a real prosody
and `run_xmpp`, into stored messages of conversations.

    .venv/bin/python bench/xmpp_inbound.py                    # about a minute
    .venv/bin/python bench/xmpp_inbound.py --messages 5000 --customers 16

Production-like: it drops and recreates its own database (supportdesk_bench_xmpp), migrates,
starts a private prosody (Debian's, as the tests do: own config, free ports, MAM on), registers
the desk's account and `--customers` customer accounts, seeds an XMPP inbox, and starts
`manage.py run_xmpp` and `manage.py run_bus` (the journal's drain) with DEBUG=0 and
TASKS_EAGER=0 — the layout of docker-compose.yml. The customers (slixmpp, one loop in this
process) then send distinct chat messages in two phases:

- burst: `--messages` as fast as the clients write them; the rate is messages stored (inbound
  Message rows, read every 20 ms) per second from the first send to the last one stored;
- one at a time: `--probe` messages, each sent when the one before is stored: send → stored.

Every process it started is stopped at the end (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import PY, Processes  # noqa: E402
from bench.run import base_env, log  # noqa: E402
from bench.stats import pct  # noqa: E402
from tests.gateways.xmpp.prosody import Prosody, available  # noqa: E402

SEED = """
import json
from apps.accounts.models import Inbox, Team
from apps.gateways.xmpp.models import XmppAccount
team, _ = Team.objects.get_or_create(name="Bench")
inbox = Inbox.objects.create(name="Bench XMPP", channel=Inbox.Channel.XMPP, address="{jid}", team=team)
XmppAccount.objects.create(inbox=inbox, jid="{jid}", password="{password}", host="127.0.0.1", port={port})
print(json.dumps({{"inbox_id": inbox.pk}}))
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/xmpp_inbound.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=2000, help="messages of the burst (default 2000)")
    p.add_argument("--customers", type=int, default=8, help="customer accounts sending (default 8)")
    p.add_argument("--probe", type=int, default=30, help="messages sent one at a time (default 30)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--database", default="supportdesk_bench_xmpp", help="dropped and recreated")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11", help="not flushed; unused on this path")
    p.add_argument("--timeout", type=float, default=300.0, help="give up on the burst after this many seconds")
    return p.parse_args(argv)


class Store:
    """Reads the bench database: how many inbound messages are stored."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def count(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM conversations_message WHERE direction = 'in' AND channel = 'xmpp'"
        ).fetchone()
        return int(row[0]) if row else 0

    def has(self, body: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM conversations_message WHERE direction = 'in' AND body = %s", [body]
        ).fetchone()
        return row is not None


async def customers_connect(server: Prosody, accounts: list[tuple[str, str]]) -> list[Any]:
    import slixmpp

    clients = []
    for jid, password in accounts:
        client = slixmpp.ClientXMPP(f"{jid}/bench", password)
        client.register_plugin("xep_0199")
        client.plugin["feature_mechanisms"].unencrypted_scram = True
        client.plugin["feature_mechanisms"].unencrypted_plain = True
        started = asyncio.get_running_loop().create_future()
        client.add_event_handler("session_start", lambda _e, c=client, f=started: f.done() or f.set_result(True))
        client.connect("127.0.0.1", server.c2s_port)
        await asyncio.wait_for(started, 30)
        clients.append(client)
    return clients


async def burst(clients: list[Any], to: str, count: int, store: Store, timeout: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    base = store.count()
    started = time.monotonic()
    for n in range(count):
        client = clients[n % len(clients)]
        client.make_message(mto=to, mbody=f"bench {run} message {n}", mtype="chat").send()
        if n % 200 == 199:
            await asyncio.sleep(0)  # let the clients' writers run
    # Every client's writes have reached the server when its ping comes back.
    await asyncio.gather(*(c.plugin["xep_0199"].send_ping(c.boundjid.domain, timeout=60) for c in clients))
    sent_s = time.monotonic() - started
    stored = 0
    while time.monotonic() - started < timeout:
        stored = store.count() - base
        if stored >= count:
            break
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    return {"messages": count, "stored": stored, "sent_s": sent_s, "elapsed_s": elapsed, "per_s": stored / elapsed}


async def probe(client: Any, to: str, count: int, store: Store) -> list[float]:
    latencies = []
    for n in range(count):
        body = f"probe {uuid.uuid4().hex[:8]} {n}"
        started = time.monotonic()
        client.make_message(mto=to, mbody=body, mtype="chat").send()
        while not store.has(body):
            if time.monotonic() - started > 30:
                break
            await asyncio.sleep(0.005)
        latencies.append((time.monotonic() - started) * 1000)
    return latencies


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not available():
        log("prosody is not installed (apt-get install prosody)")
        return 1
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="supportdesk-bench-prosody-"))
    os.chmod(root, 0o755)
    server = Prosody(root)
    server._write_config()
    log_dir = root / "logs"
    log_dir.mkdir()
    procs = Processes(log_dir)
    env = base_env(args)
    env.update(XMPP_ALLOW_PLAINTEXT="1", XMPP_MEDIA_PRIVATE_ADDRESSES="1")
    try:
        log(f"resetting database {args.database}")
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.database}"')
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        desk_password = uuid.uuid4().hex
        desk = server.register("desk", desk_password)
        accounts = [(server.register(f"customer{n}", f"pw{n}"), f"pw{n}") for n in range(args.customers)]
        server.start()
        seed = SEED.format(jid=desk, password=desk_password, port=server.c2s_port)
        subprocess.run([PY, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env, check=True, capture_output=True)
        procs.start("xmpp", [PY, "manage.py", "run_xmpp"], env=env)
        procs.start("bus", [PY, "manage.py", "run_bus"], env=env)
        store = Store(f"{args.pg}/{args.database}")

        async def load() -> dict[str, Any]:
            clients = await customers_connect(server, accounts)
            # Wait for run_xmpp's session: a first message gets stored.
            warm = await probe(clients[0], desk, 1, store)
            if warm[0] >= 30000:
                raise RuntimeError("run_xmpp stored nothing within 30 s")
            figures = await burst(clients, desk, args.messages, store, args.timeout)
            figures["probe_ms"] = await probe(clients[0], desk, args.probe, store)
            for client in clients:
                client.disconnect()
            return figures

        f = asyncio.run(load())
        print()
        print(f"XMPP in through prosody and run_xmpp (PostgreSQL, run_bus, {args.customers} customer clients)")
        print(f"  burst: {f['messages']} messages written in {f['sent_s']:.2f} s")
        print(f"    stored per second (first send → last stored)   {f['per_s']:.1f}  ({f['stored']} stored)")
        print(
            f"  one at a time: {args.probe} messages, send → stored  "
            f"p50 {pct(f['probe_ms'], 50):.0f} ms, p99 {pct(f['probe_ms'], 99):.0f} ms"
        )
        return 0 if f["stored"] == f["messages"] else 1
    except KeyboardInterrupt:
        return 130
    finally:
        procs.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
