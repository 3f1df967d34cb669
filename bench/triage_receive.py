"""What triage costs the bus's receive path, beside a baseline in the same run.

Stores SMS messages through the journal and the bus drain (`inbound_drain`, as `run_bus` does) on
a PostgreSQL database of its own, in alternating rounds: triage with nothing to apply (no rules,
no model: the baseline) and triage with two rules and a model trained on the corpus. Prints wall
and CPU milliseconds per message of each, and queries per message. No agent is online, so
assignment costs the same in both (nobody to assign to).

    python bench/triage_receive.py [--messages 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400, help="messages per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="supportdesk_bench_triage")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    os.environ.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        DATABASE_URL=f"{args.pg}/{args.database}",
        DATABASE_POOL="0",
        REDIS_URL="",
        TASKS_EAGER="0",
        LOG_LEVEL="WARNING",
        TWILIO_AUTH_TOKEN="bench-twilio-auth-token",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import Inbox
    from apps.bus.services import inbound_accept
    from apps.bus.services.journal import inbound_drain
    from apps.triage.services import labels_import, rule_create, triage_cache_reset, triage_current, triage_retrain

    call_command("migrate", verbosity=0)
    corpus = [
        json.loads(line)
        for line in (ROOT / "tests/fixtures/triage/corpus.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    Inbox.objects.create(name="Bench SMS", channel=Inbox.Channel.SMS, address="+15005550006")
    labels_import(corpus)
    assert triage_retrain().outcome == "rolled_out"
    rule_create(by=None, name="Out of office", keywords=["out of office", "automatic reply"], category="automated")
    rule_create(by=None, name="Spam", pattern=r"claim your (prize|reward)|bit\.ly/", category="spam")

    sid = iter(range(10**9))

    def round_(mode: str) -> tuple[float, float, float]:
        if mode == "off":
            triage_cache_reset(empty=True)  # nothing to apply: every message actionable by default
        else:
            triage_cache_reset()
            assert triage_current().model is not None
        for _ in range(args.messages):
            n = next(sid)
            sender = f"+1415556{n % args.senders:04d}"
            body = corpus[n % len(corpus)]["text"]
            inbound_accept(
                source="twilio:AC" + "b" * 32,
                provider_message_id=f"SMbench{n:026d}",
                channel="sms",
                sender=sender,
                payload={
                    "From": [sender],
                    "To": ["+15005550006"],
                    "Body": [body],
                    "MessageSid": [f"SMbench{n:026d}"],
                    "AccountSid": ["AC" + "b" * 32],
                    "NumMedia": ["0"],
                },
                raw=b"",
            )
        reset_queries()
        wall, cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            done = 0
            while done < args.messages:
                claimed, processed = inbound_drain()
                done += processed
                if not claimed:
                    break
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert done == args.messages, f"{mode}: stored {done} of {args.messages}"
        return wall * 1000 / done, cpu * 1000 / done, len(queries.captured_queries) / done

    results: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    round_("off")  # warm-up: first customers, caches
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            results[mode].append(round_(mode))
    for mode, label in (("off", "triage, nothing to apply (baseline)"), ("on", "triage with 2 rules + model")):
        rows = results[mode]
        wall = sorted(r[0] for r in rows)[len(rows) // 2]
        cpu = sorted(r[1] for r in rows)[len(rows) // 2]
        queries = sum(r[2] for r in rows) / len(rows)
        print(
            f"triage receive, {label}: {wall:.2f} ms wall, {cpu:.2f} ms CPU, {queries:.2f} queries per message (median of {len(rows)} rounds of {args.messages})"
        )
    off_cpu = sorted(r[1] for r in results["off"])[args.rounds // 2]
    on_cpu = sorted(r[1] for r in results["on"])[args.rounds // 2]
    print(f"triage receive: {on_cpu - off_cpu:+.2f} ms CPU per message with rules and a model (budget 5 ms)")
    connection.close()
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
