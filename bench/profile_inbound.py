"""Where one inbound message's time goes, measured in one process, one message at a time.

    .venv/bin/python bench/profile_inbound.py [--messages 300] [--senders 50] [--cprofile 40]

With the bench environment of bench/run.py (PostgreSQL, Redis channel layer and broker,
DEBUG=0) and a freshly reset bench database, it
  1. calls the Twilio webhook view (apps.gateways.twilio.views.inbound_message) N times with
     correctly signed requests (RequestFactory, no HTTP server): verify, journal INSERT, and
     the Celery dispatch to Redis after commit;
  2. calls the task's service, inbound_process(), for each journal entry in turn;
  3. times the after-commit publish as the pipeline does it (async_to_sync(group_send) from a
     plain thread) against group_send on one long-lived event loop.
It prints, per message: SQL statements, wall and CPU time, time in SQL round trips, in the
Celery dispatch, in the publish, and how long the global event-order lock
(pg_advisory_xact_lock in apps.bus.events) was held. Nothing else should be running on the
bench database at the same time (bench/run.py resets it too).
"""

from __future__ import annotations

import argparse
import asyncio
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
            self.n += 1
            self.kinds[sql.split(None, 1)[0].upper()] += 1
            if self.lock_at is None and "pg_advisory_xact_lock" in sql and params and params[0] == self.lock_key:
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
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="also profile inbound_process with cProfile and print the N costliest functions",
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
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory
    from django.utils import timezone
    from twilio.request_validator import RequestValidator

    from apps.assignment.models import AgentPresence
    from apps.bus import events as bus_events
    from apps.bus import services
    from apps.bus.models import InboundEntry
    from apps.gateways.twilio.views import inbound_message

    # Agents online, as with their consoles connected, so that assignment runs as in the bench.
    for agent in seeded["agents"]:
        AgentPresence.objects.update_or_create(
            agent_id=agent["id"],
            defaults={"status": "online", "chosen_status": "online", "last_seen_at": timezone.now()},
        )

    meter = SQLMeter(bus_events.EVENT_LOCK_KEY)
    timers: dict[str, float] = collections.defaultdict(float)

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timers[name] += time.perf_counter() - t0

        return wrapper

    services._dispatch_inbound = timed("dispatch", services._dispatch_inbound)
    bus_events.publish = timed("publish", bus_events.publish)

    # 1. The webhook view.
    factory = RequestFactory()
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    path = "/webhooks/twilio/messages"
    view_rows = []
    with connection.execute_wrapper(meter):
        for i in range(args.messages):
            sid = "SM" + uuid.uuid4().hex
            params = {
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "AccountSid": "AC" + "b" * 32,
                "From": f"+1415555{i % args.senders:04d}",
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
            timers.clear()
            c0, t0 = time.process_time(), time.perf_counter()
            response = inbound_message(request)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if response.status_code != 200:
                raise SystemExit(f"the webhook view answered {response.status_code}")
            view_rows.append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "sql_n": meter.n,
                    "sql_s": meter.seconds,
                    "dispatch": timers["dispatch"],
                    "kinds": dict(meter.kinds),
                }
            )

    # 2. The task's service.
    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
    entries = list(InboundEntry.objects.order_by("id").values_list("id", "sender"))
    seen: set[str] = set()
    rows = []
    with connection.execute_wrapper(meter):
        for entry_id, sender in entries:
            meter.reset()
            timers.clear()
            c0, t0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            state = services.inbound_process(entry_id=entry_id)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rows.append(
                {
                    "first": sender not in seen,
                    "state": state,
                    "wall": wall,
                    "cpu": cpu,
                    "sql_n": meter.n,
                    "sql_s": meter.seconds,
                    "lock_hold": meter.lock_hold or 0.0,
                    "publish": timers["publish"],
                    "kinds": dict(meter.kinds),
                }
            )
            seen.add(sender)

    # 3. The publish, as the pipeline does it and on a long-lived loop.
    layer = get_channel_layer()
    frame = {
        "type": "event.push",
        "event": {"id": 1, "type": "message.created", "conversation": 1, "data": {"body": "x" * 200}},
    }
    async_to_sync(layer.group_send)("bench.nobody", frame)
    n = 200
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        async_to_sync(layer.group_send)("bench.nobody", frame)
    per_call = ((time.perf_counter() - t0) / n, (time.process_time() - c0) / n)

    async def on_one_loop() -> tuple[float, float]:
        await layer.group_send("bench.nobody", frame)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await layer.group_send("bench.nobody", frame)
        return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n

    one_loop = asyncio.run(on_one_loop())

    print()
    print(f"1. webhook view (verify + journal INSERT + Celery dispatch), {args.messages} signed requests, in-process:")
    describe("each request", view_rows, [("dispatch", "dispatch")])
    print()
    print(
        f"2. inbound_process (the Celery task's work), one at a time, {len(rows)} entries from {args.senders} senders:"
    )
    extra = [("publish", "publish"), ("event lock held", "lock_hold")]
    describe("first from a sender", [r for r in rows if r["first"]], extra)
    describe("later from a sender", [r for r in rows if not r["first"]], extra)
    describe("all", rows, extra)
    holds = [r["lock_hold"] for r in rows if r["lock_hold"]]
    if holds:
        print(
            f"  event-order lock held {statistics.median(holds) * 1000:.2f} ms (median) with no contention: "
            f"≤ {1 / statistics.median(holds):,.0f} msg/s through it on any number of workers, before GIL or CPU waits"
        )
    print()
    print("3. one group_send of an event frame:")
    print(
        f"  async_to_sync from a plain thread (as events.publish runs in a worker): "
        f"{per_call[0] * 1000:.2f} ms wall, {per_call[1] * 1000:.2f} ms CPU"
    )
    print(
        f"  on one long-lived event loop:                                            "
        f"{one_loop[0] * 1000:.2f} ms wall, {one_loop[1] * 1000:.2f} ms CPU"
    )
    if profiler:
        import pstats

        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)
    out = ROOT / "bench" / "results" / "profile_inbound.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"view": view_rows, "process": rows, "publish_async_to_sync": per_call, "publish_one_loop": one_loop},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
