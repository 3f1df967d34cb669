"""Reports and full-text search at 1M conversations / 10M messages (issue 13).

    # once (minutes; its own database, dropped and recreated): the desk of bench/reads_seed.py
    # with variety (inboxes, teams, words, notes), then this branch's migrations on it
    .venv/bin/python bench/reads_seed.py --database supportdesk_reports --variety
    .venv/bin/python bench/reports.py --migrate          # backfill + indexes, timed; then the bench
    .venv/bin/python bench/reports.py                    # the bench again
    .venv/bin/python bench/reports.py --requests 10 --only search   # a quicker look

Runs in one process against the seeded database (DEBUG=0, no pool), through the API views
(Django's test client: routing, authentication, the selector's SQL, JSON rendering), each
request `--requests` (20) times after one warm-up, and prints p50/p95/max (ms) per request beside
the targets: a 30-day report p95 <= 1000 ms, a search p95 <= 200 ms. The baseline in the same run
is GET /api/v1/me (the cheapest authenticated API call). Writes bench/results/reports-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import pct  # noqa: E402

REPORT_TARGET_MS, SEARCH_TARGET_MS = 1000.0, 200.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg", default="postgres://postgres@localhost:5432")
    p.add_argument("--database", default="supportdesk_reports")
    p.add_argument("--migrate", action="store_true", help="apply this branch's migrations first (timed)")
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--only", default="", help="comma-separated substrings of request names")
    args = p.parse_args()

    for name in list(os.environ):
        if name.startswith(("DATABASE_", "DJANGO_")):
            del os.environ[name]
    os.environ.update(
        DATABASE_URL=f"{args.pg}/{args.database}",
        DATABASE_POOL="0",
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        DEBUG="0",
        REDIS_URL="",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.setdefault("SECRET_KEY", "reports-bench-not-secret-" + "x" * 40)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from apps.accounts.models import Agent, Inbox, Team
    from apps.conversations.models import Conversation

    out: dict[str, Any] = {"database": args.database, "seconds": {}}
    if args.migrate:
        started = time.monotonic()
        call_command("migrate", verbosity=1, interactive=False)
        out["seconds"]["migrate (backfill + concurrent indexes)"] = round(time.monotonic() - started, 1)
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE conversations_conversation; ANALYZE conversations_message; ANALYZE contacts_contact"
            )
        print(f"# migrate: {out['seconds']}", flush=True)

    counts = {
        "conversations": Conversation.objects.count(),
        "messages": Conversation.objects.aggregate(n=django.db.models.Sum("last_seq"))["n"],
    }
    out["counts"] = counts
    admin, _ = Agent.objects.get_or_create(username="bench-admin", defaults={"role": Agent.Role.ADMIN})
    agent = Agent.objects.filter(username="agent03").first()  # a member of every inbox (the seed)
    one_inbox, created = Agent.objects.get_or_create(username="bench-one-inbox")
    if created:
        one_inbox.inboxes.add(Inbox.objects.order_by("id").first())
    team = Team.objects.order_by("id").last()
    newest = Conversation.objects.order_by("-id").values_list("created_at", flat=True).first()
    today = newest.date()
    month = f"from={today - dt.timedelta(days=29)}&to={today}"
    order_no = 100000 + (counts["conversations"] * 9 // 10)  # an order number near the newest
    requests: list[tuple[str, Any, str, float]] = [
        ("baseline: GET /me", admin, "/api/v1/me", 0),
        ("report 30 days", admin, f"/api/v1/reports?{month}", REPORT_TARGET_MS),
        ("report 30 days, team", admin, f"/api/v1/reports?{month}&team={team.pk}", REPORT_TARGET_MS),
        ("report 30 days, agent", admin, f"/api/v1/reports?{month}&agent={agent.pk}", REPORT_TARGET_MS),
        ("report 30 days, channel email", admin, f"/api/v1/reports?{month}&channel=email", REPORT_TARGET_MS),
        ("report 30 days, Europe/Paris", admin, f"/api/v1/reports?{month}&tz=Europe/Paris", REPORT_TARGET_MS),
        ("report 1 day (hourly)", admin, f"/api/v1/reports?from={today}&to={today}", REPORT_TARGET_MS),
        ("report CSV 30 days", admin, f"/api/v1/reports.csv?{month}", REPORT_TARGET_MS),
        ("report 365 days (info)", admin, f"/api/v1/reports?from={today - dt.timedelta(days=364)}&to={today}", 0),
        ("search common word 'order'", agent, "/api/v1/search?q=order", SEARCH_TARGET_MS),
        ("search medium word 'axolotl'", agent, "/api/v1/search?q=axolotl", SEARCH_TARGET_MS),
        ("search prefix 'remb'", agent, "/api/v1/search?q=remb", SEARCH_TARGET_MS),
        ("search two words 'refund invoice'", agent, "/api/v1/search?q=refund+invoice", SEARCH_TARGET_MS),
        ("search phrase '\"refund order\"'", agent, "/api/v1/search?q=%22refund+order%22", SEARCH_TARGET_MS),
        ("search order number (10 hits)", agent, f"/api/v1/search?q=%23{order_no}", SEARCH_TARGET_MS),
        ("search no hit 'xylophone'", agent, "/api/v1/search?q=xylophone", SEARCH_TARGET_MS),
        ("search 'axolotl' status=open", agent, "/api/v1/search?q=axolotl&status=open", SEARCH_TARGET_MS),
        ("search 'axolotl' channel=email", agent, "/api/v1/search?q=axolotl&channel=email", SEARCH_TARGET_MS),
        ("search 'axolotl' agent", agent, f"/api/v1/search?q=axolotl&agent={agent.pk}", SEARCH_TARGET_MS),
        (
            "search 'axolotl' open + agent",
            agent,
            f"/api/v1/search?q=axolotl&status=open&agent={agent.pk}",
            SEARCH_TARGET_MS,
        ),
        ("search 'axolotl' last 30 days", agent, f"/api/v1/search?q=axolotl&{month}", SEARCH_TARGET_MS),
        ("search 'axolotl' notes only", agent, "/api/v1/search?q=axolotl&types=notes", SEARCH_TARGET_MS),
        ("search 'order' one-inbox agent", one_inbox, "/api/v1/search?q=order", SEARCH_TARGET_MS),
        ("search contact name 'nakamura'", agent, "/api/v1/search?q=nakamura&types=contacts", SEARCH_TARGET_MS),
    ]
    only = [o for o in args.only.split(",") if o]
    rows = []
    print(f"{'request':<40} {'p50':>8} {'p95':>8} {'max':>8}  target   ok", flush=True)
    for name, who, path, target in requests:
        if only and not any(o in name for o in only) and not name.startswith("baseline"):
            continue
        client = Client()
        client.force_login(who)
        first = client.get(path)
        assert first.status_code == 200, (name, first.status_code, first.content[:300])
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        p50, p95 = pct(times, 50), pct(times, 95)
        ok = "" if not target else ("yes" if p95 <= target else "NO")
        print(f"{name:<40} {p50:8.1f} {p95:8.1f} {max(times):8.1f}  {target or '':>6}  {ok}", flush=True)
        hits = None
        if "search" in name:
            body = json.loads(first.content)
            hits = {"messages": len(body["messages"]), "contacts": len(body["contacts"])}
        rows.append(
            {"name": name, "path": path, "p50": p50, "p95": p95, "max": max(times), "target": target, "hits": hits}
        )
    out["requests"] = rows
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"reports-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"# counts {counts}; written {path}")


if __name__ == "__main__":
    main()
