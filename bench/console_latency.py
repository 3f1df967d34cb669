"""Console timings in a real browser: webhook → message visible, and the list with 10,000 conversations.

    .venv/bin/python bench/console_latency.py            # both
    .venv/bin/python bench/console_latency.py -k latency # one of them
    CONSOLE_BENCH_MESSAGES=300 .venv/bin/python bench/console_latency.py -k latency

Runs under pytest with the test settings (tests/settings.py: a throwaway PostgreSQL test
database, the test Redis db) and the browser-test support (tests/browser/support.py): one real
server process (`manage.py serve`, Celery tasks eager in it, DEBUG=1) and headless Chromium
(/usr/bin/chromium). Prints the figures and appends them to bench/results/console-<time>.json.

1. Latency: N signed Twilio webhooks (default 100), one at a time, to the conversation open in
   the console. Each is timed from just before the POST until a MutationObserver in the page
   sees the message's node in the timeline (clock: the same machine's wall clock on both sides).
2. List load: 10,000 open conversations (contacts, identities, one inbound message each) seeded
   with bulk_create into the agent's inbox; then the time of `GET /api/v1/conversations`
   (the console's first page: view=all, status=open, sort=waiting, limit=50; and view=mine,
   sort=recent) over HTTP, and of a console page load until the first page of the list is drawn.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", "-o", "addopts=", *sys.argv[1:]]))

from bench.console_timing import OBSERVE, timed_posts  # noqa: E402
from bench.stats import pct  # noqa: E402
from tests.browser.support import chromium, console_server, open_console, wait_for_js  # noqa: E402,F401 - fixtures
from tests.conftest import (  # noqa: E402,F401 - fixtures
    _twilio_server_session,
    agent,
    sms_inbox,
    team,
    twilio_params,
    twilio_server,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"


def record(name: str, figures: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"console-{stamp}-{name}.json"
    path.write_text(json.dumps(figures, indent=2))
    print(f"\n[console bench] {name}: {json.dumps(figures)}\n  -> {path.relative_to(ROOT)}")


def test_webhook_to_visible_latency(chromium, console_server, sms_inbox, agent):  # noqa: F811
    sms_inbox.auto_assign = False
    sms_inbox.save(update_fields=["auto_assign"])
    count = int(os.environ.get("CONSOLE_BENCH_MESSAGES", "100"))
    console = open_console(chromium, console_server, "ana")
    page = console.page
    try:
        console_server.post_twilio(WEBHOOK, twilio_params(Body="warm-up"))
        page.locator("#conv-list li", has_text="warm-up").click()
        page.locator("#timeline li.msg.in", has_text="warm-up").wait_for()
        page.evaluate(OBSERVE)
        latencies = timed_posts(
            page, lambda body: console_server.post_twilio(WEBHOOK, twilio_params(Body=body)), count, timeout_ms=10_000
        )
        figures = {
            "messages": count,
            "p50_ms": round(statistics.median(latencies), 1),
            "p90_ms": round(pct(latencies, 90), 1),
            "p99_ms": round(pct(latencies, 99), 1),
            "max_ms": round(max(latencies), 1),
            "min_ms": round(min(latencies), 1),
            "note": "one at a time; POST start -> node in the console timeline; server DEBUG=1, tasks eager",
        }
        record("latency", figures)
        assert console.errors == []
    finally:
        console.context.close()


def seed_conversations(inbox, total: int) -> None:
    from django.utils import timezone

    from apps.contacts.models import Contact, Identity
    from apps.conversations.models import Conversation, Message

    now = timezone.now()
    batch = 2000
    for start in range(0, total, batch):
        size = min(batch, total - start)
        contacts = Contact.objects.bulk_create([Contact(name=f"Bench customer {start + i}") for i in range(size)])
        identities = Identity.objects.bulk_create(
            [
                Identity(contact=c, kind=Identity.Kind.PHONE, address=f"+1555{start + i:07d}", verified=True)
                for i, c in enumerate(contacts)
            ]
        )
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(
                    inbox=inbox,
                    contact=c,
                    status=Conversation.Status.OPEN,
                    last_identity=identities[i],
                    last_seq=1,
                    last_activity_at=now - dt.timedelta(minutes=start + i),
                    waiting_since=now - dt.timedelta(minutes=start + i),
                )
                for i, c in enumerate(contacts)
            ]
        )
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conv,
                    seq=1,
                    inbox=inbox,
                    direction=Message.Direction.INBOUND,
                    kind=Message.Kind.MESSAGE,
                    channel=Identity.Kind.PHONE,
                    identity=identities[i],
                    body=f"Bench message {start + i}: where is my order?",
                    status=Message.Status.RECEIVED,
                    created_at=conv.last_activity_at,
                )
                for i, conv in enumerate(conversations)
            ]
        )


def test_list_load_with_10000_conversations(chromium, console_server, sms_inbox, agent):  # noqa: F811
    import requests
    from rest_framework.authtoken.models import Token

    total = int(os.environ.get("CONSOLE_BENCH_CONVERSATIONS", "10000"))
    started = time.monotonic()
    seed_conversations(sms_inbox, total)
    seeded_s = time.monotonic() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    token = Token.objects.create(user=agent).key
    headers = {"Authorization": f"Token {token}"}

    def api_times(query: str, runs: int = 20) -> dict:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = requests.get(f"{console_server.url}/api/v1/conversations?{query}", headers=headers, timeout=30)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.text
        page = response.json()
        return {
            "query": query,
            "p50_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "results": len(page["results"]),
            "next": bool(page.get("next")),
            "times": times,
            "next_cursor": page.get("next"),
        }

    first = api_times("view=all&status=open&sort=waiting&limit=50")
    deep = api_times(f"view=all&status=open&sort=waiting&limit=50&before={first['next_cursor']}")
    recent = api_times("view=all&status=open&sort=recent&limit=50")
    mine = api_times("view=mine&status=open&sort=waiting&limit=50")
    for figures in (first, deep, recent, mine):
        figures.pop("times")
        figures.pop("next_cursor")

    console = open_console(chromium, console_server, "ana")
    page = console.page
    try:
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            page.reload()
            wait_for_js(page, "document.querySelectorAll('#conv-list li').length >= 50", timeout=30_000)
            loads.append((time.perf_counter() - t0) * 1000)
        figures = {
            "conversations": total,
            "seed_s": round(seeded_s, 1),
            "api_first_page": first,
            "api_second_page": deep,
            "api_recent": recent,
            "api_mine": mine,
            "browser_reload_to_50_items_ms": {
                "p50": round(statistics.median(loads), 1),
                "max": round(max(loads), 1),
            },
            "note": "server DEBUG=1 (one uvicorn process); HTTP timings include requests' overhead",
        }
        record("list", figures)
        assert console.errors == []
    finally:
        console.context.close()
