"""Mail in under load: mails per second through `run_smtp` to the console, and the parse time of
a 10 MB mail with attachments.

    .venv/bin/python bench/email_inbound.py               # a few minutes
    .venv/bin/python bench/email_inbound.py --mails 5000 --connections 16

Production-like, on PostgreSQL and Redis: it resets its own database (supportdesk_bench_email)
and Redis db (12), migrates, seeds an email inbox and an agent (bench/email_seed.py), then starts
`manage.py run_smtp`, one uvicorn web process and bus workers (run_bus), DEBUG=0 and
TASKS_EAGER=0 — the layout of docker-compose.yml. A console socket (the agent's API token)
records each mail's `message.created` frame; `--connections` SMTP clients (smtplib, one thread
and one session each) send distinct mails in three phases:

- burst: `--mails` as fast as the listener answers 250 — the listener's rate and answer time,
  then how fast the workers drain that backlog to the console;
- sustained: `--steady-mails` with at most `--window` in flight (sent, not yet on the console) —
  the rate the whole pipeline keeps up, and its latency at that rate;
- one at a time: `--probe-mails` — the latency of a mail that waits for nothing.

Then the parse time of the big mail (`parse_mail` and the gateway's `parse_inbound`, median of
5). Every process it started is stopped at the end (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import smtplib
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import PY, Processes, bin_path, port_free, reset_services, wait_http  # noqa: E402
from bench.run import base_env, log  # noqa: E402
from bench.stats import pct  # noqa: E402

DOMAIN = "bench.example"
INBOX = f"help@{DOMAIN}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/email_inbound.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=1000, help="mails of the burst (default 1000)")
    p.add_argument("--steady-mails", type=int, default=1000, help="mails of the sustained phase (default 1000)")
    p.add_argument("--window", type=int, default=16, help="sustained phase: mails in flight at most (default 16)")
    p.add_argument("--probe-mails", type=int, default=30, help="mails sent one at a time, for latency (default 30)")
    p.add_argument("--connections", type=int, default=8, help="SMTP sessions sending at once (default 8)")
    p.add_argument("--senders", type=int, default=200, help="distinct customer addresses (default 200)")
    p.add_argument(
        "--workers", type=int, default=2, help="bus workers, manage.py run_bus (default 2, as docker-compose.yml)"
    )
    p.add_argument("--batch", type=int, default=100, help="journal entries per batch of a bus worker (default 100)")
    p.add_argument("--concurrency", type=int, default=2, help="threads of the Celery worker (default 2)")
    p.add_argument("--parse-mb", type=float, default=10.0, help="size of the big mail to parse (default 10)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--database", default="supportdesk_bench_email", help="dropped and recreated")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="flushed")
    p.add_argument("--web-port", type=int, default=8760)
    p.add_argument("--smtp-port", type=int, default=8725)
    p.add_argument("--skip-load", action="store_true", help="only the parse timing")
    return p.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each bench process (and the bench database's PostgreSQL backends, together)
    spent between `start()` and `stop()`. Linux only (/proc); backends that ended in between
    are missed (the processes keep pooled connections, so few do)."""

    def __init__(self, procs: Processes, pg: str, database: str) -> None:
        self.procs, self.pg, self.database = procs, pg, database
        self.before: dict[str, float] = {}
        self.backends: dict[int, float] = {}
        self.spent: dict[str, float] = {}

    def _backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(f"{self.pg}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.database]
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def start(self) -> None:
        self.before = {name: cpu_seconds(proc.pid) for name, proc in self.procs.items.items()}
        self.before["bench (clients)"] = cpu_seconds(os.getpid())
        self.backends = {pid: cpu_seconds(pid) for pid in self._backend_pids()}

    def stop(self) -> dict[str, float]:
        spent = {name: cpu_seconds(proc.pid) - self.before.get(name, 0.0) for name, proc in self.procs.items.items()}
        spent["bench (clients)"] = cpu_seconds(os.getpid()) - self.before["bench (clients)"]
        postgres = 0.0
        for pid in self._backend_pids():
            now = cpu_seconds(pid)
            postgres += now - self.backends.get(pid, 0.0) if now else 0.0
        spent["postgres"] = postgres
        self.spent = spent
        return spent


def cpu_lines(spent: dict[str, float], mails: int) -> str:
    """'smtp 1.2, bus0 5.1, …' in CPU milliseconds per mail."""
    parts = [f"{name} {1000 * seconds / max(mails, 1):.1f}" for name, seconds in spent.items()]
    return ", ".join(parts) + f"; total {1000 * sum(spent.values()) / max(mails, 1):.1f}"


def mail(index: int, senders: int) -> tuple[str, bytes]:
    token = f"bench-{index}-{uuid.uuid4().hex[:8]}"
    message = EmailMessage()
    message["From"] = f"Customer {index % senders} <customer{index % senders}@customers.example>"
    message["To"] = INBOX
    message["Subject"] = f"Question {index}"
    message["Message-ID"] = f"<{token}@customers.example>"
    message.set_content(f"Hello, this is {token}.\n\nOn Monday, Support <{INBOX}> wrote:\n> How can we help?\n")
    message.add_alternative(f"<p>Hello, this is <b>{token}</b>.</p>", subtype="html")
    return token, message.as_bytes()


# --- the load ----------------------------------------------------------------------------------


class Console:
    """One console socket, recording when each token's message.created arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[str, float] = {}
        self.on_seen: Any = None  # called with each token the first time it is seen
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        import websockets

        async with websockets.connect(self.url, max_size=1 << 22) as socket:
            self.ready.set()
            while not self.stop.is_set():
                try:
                    frame = await asyncio.wait_for(socket.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return
                now = time.monotonic()
                data = json.loads(frame)
                if data.get("type") == "message.created":
                    body = str((data.get("data") or {}).get("body", ""))
                    for word in body.replace(".", " ").split():
                        if word.startswith("bench-") and word not in self.seen:
                            self.seen[word] = now
                            if self.on_seen is not None:
                                self.on_seen(word)


def send_all(
    port: int, mails: list[tuple[str, bytes]], connections: int, window: threading.Semaphore | None = None
) -> dict[str, tuple[float, float]]:
    """token -> (sent at, 250 at), over `connections` SMTP sessions. With a `window`, a mail is
    sent only when fewer than its size are in flight (released when the console sees one)."""
    times: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()
    chunks = [mails[i::connections] for i in range(connections)]

    def run(chunk: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for token, raw in chunk:
                sender = raw.split(b"<", 1)[1].split(b">", 1)[0].decode()
                if window is not None:
                    window.acquire(timeout=60)  # a mail that never arrives must not stop the run
                started = time.monotonic()
                client.sendmail(sender, [INBOX], raw)
                with lock:
                    times[token] = (started, time.monotonic())

    with ThreadPoolExecutor(max_workers=connections) as pool:
        for future in [pool.submit(run, chunk) for chunk in chunks]:
            future.result()
    return times


def drain(console: Console, tokens: set[str], patience: float = 30.0, limit: float = 900.0) -> dict[str, float]:
    """Wait until the console has seen every token, or nothing new came for `patience` seconds."""
    deadline = time.monotonic() + limit
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(tokens & console.seen.keys())
        if count == len(tokens):
            break
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > patience:
            break
        time.sleep(0.1)
    return {t: console.seen[t] for t in tokens if t in console.seen}


def load(args: argparse.Namespace) -> dict[str, Any]:
    env = base_env(argparse.Namespace(pg=args.pg, database=args.database, redis_url=args.redis_url))
    env.update(INBOUND_EMAIL_DOMAIN=DOMAIN, SMTP_LISTEN=f"127.0.0.1:{args.smtp_port}", ROOT_URLCONF="supportdesk.urls")
    for port in (args.web_port, args.smtp_port):
        if not port_free(port):
            raise RuntimeError(f"port {port} is in use")
    log(f"resetting database {args.database} and Redis {args.redis_url}")
    reset_services(pg=args.pg, database=args.database, redis_url=args.redis_url, env=env)
    seeded = json.loads(
        subprocess.run(
            [PY, str(ROOT / "bench" / "email_seed.py"), "--address", INBOX],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    log_dir = ROOT / "bench" / "results" / f"email-logs-{time.strftime('%Y%m%d-%H%M%S')}"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = Processes(log_dir)
    try:
        procs.start(
            "web",
            [bin_path("uvicorn"), "supportdesk.asgi:application", "--host", "127.0.0.1", "--port", str(args.web_port)]
            + ["--lifespan", "off", "--no-access-log", "--log-level", "warning"],
            env,
        )
        procs.start("smtp", [PY, "manage.py", "run_smtp"], env)
        for i in range(args.workers):
            procs.start(f"bus{i}", [PY, "manage.py", "run_bus"], dict(env, BUS_BATCH_SIZE=str(args.batch)))
        # Celery for the secondary tasks a mail can queue (media, the widget's offline mail).
        procs.start(
            "celery",
            [bin_path("celery"), "-A", "supportdesk", "worker", "-P", "threads", "-c", str(args.concurrency)]
            + ["-n", "email@%h", "-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            dict(env, DATABASE_POOL_MAX=str(args.concurrency + 2), DATABASE_POOL_MIN="1"),
        )
        wait_http(f"http://127.0.0.1:{args.web_port}/healthz", 60, procs)
        deadline = time.monotonic() + 30
        while not (log_dir / "smtp.log").read_text(errors="replace").count("SMTP listener on"):
            if time.monotonic() > deadline or procs.dead():
                raise RuntimeError(f"run_smtp did not start: {(log_dir / 'smtp.log').read_text()}")
            time.sleep(0.2)
        console = Console(f"ws://127.0.0.1:{args.web_port}/ws/console/?token={seeded['token']}")
        console.thread.start()
        if not console.ready.wait(15):
            raise RuntimeError("the console socket did not open")
        log("warm-up: 20 mails")
        send_all(args.smtp_port, [mail(-1 - i, args.senders) for i in range(20)], 4)
        time.sleep(2)
        # Burst: every mail as fast as the listener answers 250; then the workers drain the backlog.
        burst = [mail(i, args.senders) for i in range(args.mails)]
        log(f"burst: {args.mails} mails over {args.connections} SMTP sessions")
        start = time.monotonic()
        times = send_all(args.smtp_port, burst, args.connections)
        sent_done = time.monotonic()
        delivered = drain(console, {token for token, _ in burst})
        last = max(delivered.values()) if delivered else sent_done
        figures: dict[str, Any] = {
            "mails": args.mails,
            "connections": args.connections,
            "workers": f"{args.workers} bus worker(s), batch {args.batch}",
            "accepted_per_s": args.mails / (sent_done - start),
            "smtp_250_ms": [1000 * (done - sent) for sent, done in times.values()],
            "delivered": len(delivered),
            "drained_per_s": len(delivered) / (last - start) if delivered else 0.0,
        }
        # Sustained: at most --window mails in flight (sent, not yet on the console).
        window = threading.Semaphore(args.window)
        steady = [mail(args.mails + i, args.senders) for i in range(args.steady_mails)]
        steady_tokens = {token for token, _ in steady}
        console.on_seen = lambda token: window.release() if token in steady_tokens else None
        log(f"sustained: {args.steady_mails} mails, at most {args.window} in flight")
        meter = CpuMeter(procs, args.pg, args.database)
        meter.start()
        start = time.monotonic()
        steady_times = send_all(args.smtp_port, steady, args.connections, window)
        seen = drain(console, steady_tokens)
        steady_cpu = meter.stop()
        last = max(seen.values()) if seen else time.monotonic()
        latencies = [1000 * (seen[t] - steady_times[t][0]) for t in seen]
        # The rate after the first fifth (ramp-up).
        ordered = sorted(seen.values())
        skip = len(ordered) // 5
        steady_rate = (len(ordered) - skip - 1) / (ordered[-1] - ordered[skip]) if len(ordered) > skip + 1 else 0.0
        figures.update(
            steady_mails=args.steady_mails,
            window=args.window,
            steady_delivered=len(seen),
            steady_per_s=steady_rate,
            to_console_ms=latencies,
            steady_seconds=last - start,
            steady_cpu_s=steady_cpu,
            steady_load=os.getloadavg()[0],
        )
        # One at a time: the latency of a mail that waits for nothing.
        single = threading.Semaphore(1)
        probe = [mail(args.mails + args.steady_mails + i, args.senders) for i in range(args.probe_mails)]
        probe_tokens = {token for token, _ in probe}
        console.on_seen = lambda token: single.release() if token in probe_tokens else None
        log(f"one at a time: {args.probe_mails} mails")
        probe_times = send_all(args.smtp_port, probe, 1, single)
        probe_seen = drain(console, probe_tokens)
        figures.update(
            probe_mails=args.probe_mails,
            probe_delivered=len(probe_seen),
            probe_ms=[1000 * (probe_seen[t] - probe_times[t][0]) for t in probe_seen],
            probe_250_ms=[1000 * (done - sent) for sent, done in probe_times.values()],
        )
        console.stop.set()
        console.thread.join(5)
        return figures
    finally:
        procs.stop()


# --- the big mail ------------------------------------------------------------------------------


def big_mail(megabytes: float) -> bytes:
    """A mail of about `megabytes` MB: text and HTML bodies, an inline image and three files."""
    message = EmailMessage()
    message["From"] = "Customer <customer@customers.example>"
    message["To"] = INBOX
    message["Subject"] = "Logs and screenshots"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@customers.example>"
    message.set_content("Here are the logs.\n\n" + "A line of the report.\n" * 2000)
    message.add_alternative("<p>Here are the logs.</p>" + "<p>A line of the report.</p>" * 2000, subtype="html")
    # base64 grows the bytes by 4/3; the files weigh 0.5 + 1 + 1 + 0.5 = 3 shares.
    per_file = int((megabytes - 0.1) * 1024 * 1024 * 3 / 4 / 3)
    for index, (maintype, subtype, name) in enumerate(
        [("image", "png", "screen.png"), ("application", "pdf", "report.pdf"), ("application", "zip", "logs.zip")]
    ):
        data = os.urandom(per_file if index else per_file // 2)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    message.add_attachment(os.urandom(per_file // 2), maintype="text", subtype="csv", filename="data.csv")
    return message.as_bytes()


def parse_timing(megabytes: float) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings

    from apps.gateways.email.gateway import EmailGateway
    from apps.gateways.email.parser import parse_mail

    settings.EMAIL_ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024
    raw = big_mail(megabytes)
    envelope = {"mail_from": "customer@customers.example", "rcpt_tos": [INBOX], "transport": "smtp", "inbox_id": None}
    parse_ms, gateway_ms = [], []
    for _ in range(5):
        started = time.perf_counter()
        parsed = parse_mail(raw, envelope)
        parse_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        EmailGateway().parse_inbound(envelope, raw)  # type: ignore[arg-type]
        gateway_ms.append(1000 * (time.perf_counter() - started))
    return {
        "bytes": len(raw),
        "attachments": len(parsed.attachments),
        "parse_ms": statistics.median(parse_ms),
        "parse_inbound_ms": statistics.median(gateway_ms),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {}
    if not args.skip_load:
        figures["load"] = load(args)
    figures["parse"] = parse_timing(args.parse_mb)
    print()
    if "load" in figures:
        f = figures["load"]
        print(f"mail in through run_smtp (PostgreSQL + Redis, {f['workers']}, {f['connections']} SMTP sessions)")
        print(f"  burst: {f['mails']} mails as fast as 250 comes")
        print(f"    accepted (250) per second       {f['accepted_per_s']:.1f}")
        print(
            f"    DATA -> 250                     p50 {pct(f['smtp_250_ms'], 50):.1f} ms, "
            f"p99 {pct(f['smtp_250_ms'], 99):.1f} ms"
        )
        print(
            f"    on the console                  {f['delivered']} ({f['drained_per_s']:.1f} per second, backlog drained)"
        )
        print(f"  sustained: {f['steady_mails']} mails, at most {f['window']} in flight")
        print(f"    to the console per second       {f['steady_per_s']:.1f} ({f['steady_delivered']} delivered)")
        print(
            f"    send -> console frame           p50 {pct(f['to_console_ms'], 50):.0f} ms, "
            f"p99 {pct(f['to_console_ms'], 99):.0f} ms"
        )
        print(f"    CPU ms per mail, per process    {cpu_lines(f['steady_cpu_s'], f['steady_delivered'])}")
        print(f"    machine load (1 min) at the end {f['steady_load']:.2f} on {os.cpu_count()} CPUs")
        print(f"  one at a time: {f['probe_mails']} mails")
        print(
            f"    DATA -> 250                     p50 {pct(f['probe_250_ms'], 50):.1f} ms, "
            f"p99 {pct(f['probe_250_ms'], 99):.1f} ms"
        )
        print(
            f"    send -> console frame           p50 {pct(f['probe_ms'], 50):.0f} ms, "
            f"p99 {pct(f['probe_ms'], 99):.0f} ms ({f['probe_delivered']} delivered)"
        )
    p = figures["parse"]
    print(f"parse of a {p['bytes'] / 1024 / 1024:.1f} MiB mail with {p['attachments']} attachments (median of 5)")
    print(f"  parse_mail                  {p['parse_ms']:.0f} ms")
    print(f"  EmailGateway.parse_inbound  {p['parse_inbound_ms']:.0f} ms (parse + dedupe key)")
    if "load" in figures:
        f = figures["load"]
        if (f["delivered"], f["steady_delivered"], f["probe_delivered"]) != (
            f["mails"],
            f["steady_mails"],
            f["probe_mails"],
        ):
            print("NOT ALL MAILS ANSWERED 250 REACHED THE CONSOLE")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
