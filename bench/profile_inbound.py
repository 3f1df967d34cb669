"""Where an inbound message's time goes, measured in one process.

    .venv/bin/python bench/profile_inbound.py [--messages 300] [--senders 50] [--batch 100] [--cprofile 40]

With the bench environment of bench/run.py (PostgreSQL, DEBUG=0, TASKS_EAGER=0) and a freshly
reset bench database, it
  1. calls the Twilio webhook view (apps.gateways.twilio.views.inbound_message) N times with
     correctly signed requests (RequestFactory, no HTTP server): verify, journal INSERT and the
     inbound doorbell — all the webhook does before it answers;
  2. drains those entries one at a time (`inbound_drain(limit=1)`: what the bus worker does at
     light load, one message per wake), then, after a second round of N webhooks, in batches of
     `--batch` (what it does under load);
It prints, per message: SQL statements (apps.core.rawsql sends several per round trip), wall and
CPU time, time in SQL, and how long the global event-order lock (pg_advisory_xact_lock in apps.bus.events) was held per drain
transaction. `--cprofile N` prints the N costliest functions of the one-at-a-time drain.
Nothing else should be running on the bench database at the same time (bench/run.py resets it
too).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class SQLMeter:
    """Counts and times SQL statements; notes when the event-order lock is taken."""

    def __init__(self, lock_key: int) -> None:
        self.lock_key = lock_key
        self.reset()

    def reset(self) -> None:
        self.n, self.seconds = 0, 0.0
        self.kinds: collections.Counter[str] = collections.Counter()
        self.lock_at: float | None = None
        self.lock_hold: float | None = None

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        from django.db import transaction

        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            t1 = time.perf_counter()
            self.seconds += t1 - t0
            # Statements: apps.core.rawsql.run sends several in one round trip (one query string,
            # or a pipeline of prepared ones), so round trips are fewer.
            for statement in sql.split("; "):
                self.n += 1
                self.kinds[statement.split(None, 1)[0].upper()] += 1
            if self.lock_at is None and "pg_advisory_xact_lock" in sql and params and self.lock_key in list(params):
                self.lock_at = t1
                # The first hook after COMMIT: the lock is released by then.
                transaction.on_commit(self._released)

    def _released(self) -> None:
        assert self.lock_at is not None
        self.lock_hold = time.perf_counter() - self.lock_at


def median_ms(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median([r[key] for r in rows]) * 1000.0


def describe(label: str, rows: list[dict[str, Any]], extra: list[tuple[str, str]]) -> None:
    if not rows:
        return
    kinds: collections.Counter[str] = collections.Counter()
    for r in rows:
        kinds.update(r["kinds"])
    parts = [
        f"SQL {statistics.median([r['sql_n'] for r in rows]):.0f} stmts",
        f"wall {median_ms(rows, 'wall'):.2f}",
        f"cpu {median_ms(rows, 'cpu'):.2f}",
        f"in SQL {median_ms(rows, 'sql_s'):.2f}",
    ]
    parts += [f"{name} {median_ms(rows, key):.2f}" for name, key in extra]
    print(f"  {label:<24} n={len(rows):<4} " + "  ".join(parts) + " ms (medians)")
    print(
        f"  {'':<24} statements per message: " + ", ".join(f"{k} {v / len(rows):.1f}" for k, v in kinds.most_common())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="batch size of the second drain round")
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="also profile the one-at-a-time drain with cProfile and print the N costliest functions",
    )
    parser.add_argument("--cprofile-out", default="", help="with --cprofile: also dump the stats to this file")
    parser.add_argument(
        "--show-sql",
        action="store_true",
        help="also print each statement (and its time) of one drain of a known sender's message",
    )
    from bench.run import base_env, parse_args, reset_services, seed

    args, rest = parser.parse_known_args()
    run_args = parse_args(rest + ["--consoles", str(args.agents)])
    env = base_env(run_args)
    reset_services(run_args, env)
    seeded = seed(run_args, env)
    os.environ.update(env)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory
    from django.utils import timezone
    from twilio.request_validator import RequestValidator

    from apps.assignment.models import AgentPresence
    from apps.bus import events as bus_events
    from apps.bus.models import InboundEntry
    from apps.bus.services.journal import inbound_drain
    from apps.gateways.twilio.views import inbound_message

    # Agents online, as with their consoles connected, so that assignment runs as in the bench.
    for agent in seeded["agents"]:
        AgentPresence.objects.update_or_create(
            agent_id=agent["id"],
            defaults={"status": "online", "chosen_status": "online", "last_seen_at": timezone.now()},
        )

    meter = SQLMeter(bus_events.EVENT_LOCK_KEY)
    factory = RequestFactory()
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    path = "/webhooks/twilio/messages"
    counter = iter(range(10**9))

    def webhooks(n: int, new_senders: bool = False) -> list[dict[str, Any]]:
        rows = []
        with connection.execute_wrapper(meter):
            for _ in range(n):
                i = next(counter)
                sid = "SM" + uuid.uuid4().hex
                params = {
                    "MessageSid": sid,
                    "SmsMessageSid": sid,
                    "SmsSid": sid,
                    "AccountSid": "AC" + "b" * 32,
                    "From": f"+1628555{i % 10000:04d}" if new_senders else f"+1415555{i % args.senders:04d}",
                    "To": seeded["inbox_address"],
                    "Body": f"profile message {i}",
                    "NumMedia": "0",
                    "NumSegments": "1",
                    "SmsStatus": "received",
                    "ApiVersion": "2010-04-01",
                }
                signature = validator.compute_signature(settings.PUBLIC_BASE_URL + path, params)
                request = factory.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
                meter.reset()
                c0, t0 = time.process_time(), time.perf_counter()
                response = inbound_message(request)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if response.status_code != 200:
                    raise SystemExit(f"the webhook view answered {response.status_code}")
                rows.append(
                    {"wall": wall, "cpu": cpu, "sql_n": meter.n, "sql_s": meter.seconds, "kinds": dict(meter.kinds)}
                )
        return rows

    def drain(limit: int, profiler: Any = None) -> list[dict[str, Any]]:
        """Drain everything pending in batches of `limit`; one row per message (a batch's cost
        shared by its messages)."""
        seen = set(InboundEntry.objects.filter(state=InboundEntry.State.DONE).values_list("sender", flat=True))
        rows = []
        with connection.execute_wrapper(meter):
            while True:
                senders = list(
                    InboundEntry.objects.filter(state=InboundEntry.State.PENDING)
                    .order_by("id")
                    .values_list("sender", flat=True)[:limit]
                )
                if not senders:
                    break
                meter.reset()
                c0, t0 = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                claimed, processed = inbound_drain(limit=limit)
                if profiler:
                    profiler.disable()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if not processed:
                    raise SystemExit(f"the drain claimed {claimed} and processed none")
                share = 1 / processed
                for sender in senders[:processed]:
                    rows.append(
                        {
                            "first": sender not in seen,
                            "wall": wall * share,
                            "cpu": cpu * share,
                            "sql_n": meter.n * share,
                            "sql_s": meter.seconds * share,
                            "lock_hold": meter.lock_hold or 0.0,
                            "kinds": {k: v * share for k, v in meter.kinds.items()},
                        }
                    )
                    seen.add(sender)
        return rows

    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
    view_rows = webhooks(args.messages)
    one_rows = drain(1, profiler)
    webhooks(args.messages)
    batch_rows = drain(args.batch)

    shown: list[tuple[str, list[tuple[float, str]]]] = []
    if args.show_sql:
        statements: list[tuple[float, str]] = []

        def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                statements.append((time.perf_counter() - t0, " ".join(sql.split())))

        # The same statements each time: median time per statement, for a known sender's message
        # and for a new customer's.
        for label, new in (("a known sender's message", False), ("a new customer's message", True)):
            runs: list[list[tuple[float, str]]] = []
            for _ in range(30):
                webhooks(1, new_senders=new)
                statements.clear()
                with connection.execute_wrapper(record):
                    inbound_drain(limit=1)
                runs.append(list(statements))
            shown.append(
                (
                    label,
                    [
                        (statistics.median(run[i][0] for run in runs if len(run) > i), sql)
                        for i, (_, sql) in enumerate(runs[-1])
                    ],
                )
            )

    print()
    print(f"1. webhook view (verify + journal INSERT + doorbell), {args.messages} signed requests, in-process:")
    describe("each request", view_rows, [])
    print()
    print(f"2. the bus drain, one message per transaction ({len(one_rows)} messages from {args.senders} senders):")
    extra = [("event lock held", "lock_hold")]
    describe("first from a sender", [r for r in one_rows if r["first"]], extra)
    describe("later from a sender", [r for r in one_rows if not r["first"]], extra)
    describe("all", one_rows, extra)
    print()
    print(
        f"3. the bus drain in batches of {args.batch} ({len(batch_rows)} messages; a batch's cost shared by its messages):"
    )
    describe("all", batch_rows, [])
    holds = sorted({r["lock_hold"] for r in batch_rows if r["lock_hold"]})
    if holds:
        print(f"  event-order lock held {statistics.median(holds) * 1000:.2f} ms per batch (median)")
    for number, (label, statements) in enumerate(shown, start=4):
        print()
        print(f"{number}. the statements of one drain of {label} ({len(statements)}; median of 30):")
        for seconds, sql in statements:
            print(f"  {seconds * 1000:6.2f} ms  {sql[:220]}")
    if profiler:
        import pstats

        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)
        if args.cprofile_out:
            profiler.dump_stats(args.cprofile_out)
    out = ROOT / "bench" / "results" / "profile_inbound.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"view": view_rows, "drain_one": one_rows, "drain_batch": batch_rows}, indent=1))


if __name__ == "__main__":
    main()
