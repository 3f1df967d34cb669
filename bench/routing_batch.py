"""What routing costs the bus: journal batches of new customers drained with no routing rules
(the baseline) and with a realistic rule set, alternately, in one process, on PostgreSQL.

    .venv/bin/python bench/routing_batch.py [--messages 600] [--batch 100] [--rounds 3]

It drops and recreates its own database (`supportdesk_bench_routing`, `--database`) and touches
no other database and no Redis (Redis is not on the drain's path). Four agents are online with
room for everything, so each message is also assigned (round robin, as the bus does). Every
message is a new customer: the worst case, each one routed. The rule set (`--rules`, 20) is
keyword rules of 10 words each, a pattern, channel/language rules, a `known customer` rule, a
default last; about a third of the messages match an early rule, the rest fall to the default.
Printed per mode: messages per second (median of the rounds), SQL statements per message.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "The app crashes when I open the settings page",
    "I was charged twice for my subscription, please refund",
    "What is the price of the business plan for 20 seats?",
    "I cannot log in, the password reset email never arrives",
    "Bonjour, ma commande n'est pas arrivée et je voudrais savoir pourquoi",
    "Hello, just a quick question about your opening hours",
    "Where is my parcel? Order 123456 was due yesterday",
    "Thanks for the help last week, everything works now",
    "Can I change the delivery address of my order?",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=600, help="messages per phase (default 600)")
    p.add_argument("--batch", type=int, default=100, help="journal entries per drain (default 100, as run_bus)")
    p.add_argument("--rounds", type=int, default=3, help="baseline/rules pairs (default 3)")
    p.add_argument("--rules", type=int, default=20)
    p.add_argument("--pg", default="postgres://postgres@localhost:5432")
    p.add_argument("--database", default="supportdesk_bench_routing")
    args = p.parse_args()

    env = {
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "REDIS_URL": "",
        "TASKS_EAGER": "0",
        "DEBUG": "0",
        "SECRET_KEY": "bench-not-a-secret-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
        "TWILIO_AUTH_TOKEN": "bench-twilio-auth-token",
    }
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.db import connection

    from apps.accounts.models import Agent, Inbox, Team
    from apps.assignment.services import presence_set
    from apps.bus.services import inbound_accept
    from apps.bus.services.journal import inbound_drain
    from apps.dispatch.config import routing_config
    from apps.dispatch.models import RoutingRule

    support, rnd, sales, billing = (Team.objects.create(name=n) for n in ("Support", "R&D", "Sales", "Billing"))
    inbox = Inbox.objects.create(name="SMS", channel=Inbox.Channel.SMS, address="+15005550006", team=support)
    agents = [Agent.objects.create(username=f"a{i}", max_conversations=10**6) for i in range(4)]
    for agent in agents:
        inbox.members.add(agent)
        support.members.add(agent)

    def make_rules() -> None:
        words = [f"word{i}" for i in range(10 * args.rules)]
        position = 0
        for i in range(max(args.rules - 6, 0)):  # filler rules that never match: the cost of a long list
            position += 1
            RoutingRule.objects.create(name=f"filler {i}", position=position, keywords=words[i * 10 : i * 10 + 10])
        for name, fields in [
            ("Bugs", {"keywords": ["crash", "error", "bug", "broken", "freeze"], "team": rnd, "priority": 3}),
            ("Billing", {"keywords": ["refund*", "charged", "invoice", "payment"], "team": billing}),
            ("Buying", {"keywords": ["price", "quote", "plan", "seats"], "team": sales}),
            ("Orders", {"pattern": r"\border\s*#?\d{5,}"}),
            ("French", {"languages": ["fr"], "priority": 2}),
            ("Known", {"customer": "known", "priority": 1}),
            ("Default", {}),
        ]:
            position += 1
            RoutingRule.objects.create(name=name, position=position, **fields)

    counter = iter(range(10**7))
    statements = [0]

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements[0] += 1
        return execute(sql, params, many, context)

    def phase() -> tuple[float, float]:
        for agent in agents:
            presence_set(agent_id=agent.pk, status="online")
        for _ in range(args.messages):
            n = next(counter)
            sender = f"+1415{n:07d}"
            inbound_accept(
                source="twilio:AC" + "b" * 32,
                provider_message_id=f"SM{n:032d}",
                channel="sms",
                sender=sender,
                payload={
                    "MessageSid": [f"SM{n:032d}"],
                    "AccountSid": ["AC" + "b" * 32],
                    "From": [sender],
                    "To": ["+15005550006"],
                    "Body": [TOPICS[n % len(TOPICS)]],
                    "NumMedia": ["0"],
                },
                raw=b"",
            )
        routing_config()  # a long-lived worker has its snapshot already
        statements[0] = 0
        done = 0
        start = time.perf_counter()
        with connection.execute_wrapper(count):
            while done < args.messages:
                claimed, stored = inbound_drain(limit=args.batch)
                if not claimed or stored != claimed:
                    raise RuntimeError(f"a drain claimed {claimed} and stored {stored}")
                done += stored
        seconds = time.perf_counter() - start
        return args.messages / seconds, statements[0] / args.messages

    results: dict[str, list[tuple[float, float]]] = {"baseline (no rules)": [], f"{args.rules} rules": []}
    for _ in range(args.rounds):
        RoutingRule.objects.all().delete()
        results["baseline (no rules)"].append(phase())
        make_rules()
        results[f"{args.rules} rules"].append(phase())
    from apps.conversations.models import Conversation

    routed = Conversation.objects.exclude(team=support).count()
    print(f"{routed} conversations routed away from the inbox's team by the rules")
    print(f"{args.messages} new customers per phase, batches of {args.batch}, {args.rounds} rounds")
    base = statistics.median(r[0] for r in results["baseline (no rules)"])
    for mode, rows in results.items():
        rate = statistics.median(r[0] for r in rows)
        sql = statistics.median(r[1] for r in rows)
        print(f"{mode:>22}: {rate:8.1f} msg/s  {sql:5.2f} SQL/msg  ({rate / base:.2f} x baseline)")


if __name__ == "__main__":
    main()
