"""Mastodon in, through to the console: post → message visible in an agent's console, beside a
Twilio webhook baseline in the same run.

    .venv/bin/python bench/mastodon_inbound.py                   # about half a minute
    MASTODON_BENCH_MESSAGES=100 MASTODON_BENCH_BACKLOG=500 .venv/bin/python bench/mastodon_inbound.py

Runs under pytest with the test settings (a throwaway PostgreSQL test database) and the
browser-test support: one real server process (`manage.py serve`, tasks eager, DEBUG=1), which
follows the local Mastodon instance (tests/fakes/mastodon_server.py) with its streaming listener,
as `make run` does; headless Chromium shows the console. Three phases, each timed from just
before the post until a MutationObserver in the page sees the message's node in the timeline:

1. baseline: N signed Twilio webhooks, one at a time (the path every other channel shares);
2. stream: N mentions posted on the instance, one at a time (SSE → listener → journal → bus →
   event log → console socket);
3. catch-up: M mentions posted while the stream misses them, then the stream is cut (an instance
   restart): time until the last of them is on screen (reconnect + notifications backfill).

Prints the figures and appends them to bench/results/mastodon-<time>.json.
"""

from __future__ import annotations

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

from bench.console_timing import OBSERVE, bench_token, timed_posts  # noqa: E402
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
from tests.mastodon.conftest import (  # noqa: E402,F401 - fixtures
    _mastodon_server_session,
    mastodon_server,
    md_account,
    md_inbox,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"


def summary(latencies: list[float]) -> dict:
    return {
        "messages": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(pct(latencies, 90), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
    }


def _open(page, text: str) -> None:
    page.locator("#conv-list li", has_text=text).click()
    page.locator("#timeline li.msg.in", has_text=text).wait_for(timeout=20_000)
    page.evaluate(OBSERVE)


def test_mastodon_post_to_console(chromium, md_account, mastodon_server, console_server, sms_inbox, agent):  # noqa: F811
    count = int(os.environ.get("MASTODON_BENCH_MESSAGES", "20"))
    backlog = int(os.environ.get("MASTODON_BENCH_BACKLOG", "50"))
    for inbox in (sms_inbox, md_account.inbox):
        inbox.auto_assign = False
        inbox.save(update_fields=["auto_assign"])
    md_account.inbox.members.add(agent)
    console = open_console(chromium, console_server, "ana")
    page = console.page
    try:
        deadline = time.monotonic() + 20
        while mastodon_server.connected_streams() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mastodon_server.connected_streams() >= 1, "the server's listener never connected"

        console_server.post_twilio(WEBHOOK, twilio_params(Body="warm-up sms"))
        _open(page, "warm-up sms")
        baseline = timed_posts(
            page, lambda body: console_server.post_twilio(WEBHOOK, twilio_params(Body=body)), count, timeout_ms=20_000
        )

        mastodon_server.post_mention("warm-up mastodon")
        _open(page, "warm-up mastodon")
        stream = timed_posts(page, mastodon_server.post_mention, count, timeout_ms=20_000)

        mastodon_server.stream_mentions = False
        tokens = [bench_token() for _ in range(backlog)]
        for token in tokens:
            mastodon_server.post_mention(f"bench-{token}")
        started = time.time() * 1000
        mastodon_server.drop_streams()
        last = f"'{tokens[-1]}' in window.__seen && {len(tokens)} <= Object.keys(window.__seen).length - {count}"
        wait_for_js(page, last, timeout=60_000)
        seen = page.evaluate("window.__seen")
        missing = [t for t in tokens if t not in seen]
        catch_up_ms = max(seen[t] for t in tokens if t in seen) - started
        figures = {
            "baseline_twilio_webhook": summary(baseline),
            "mastodon_stream": summary(stream),
            "mastodon_catch_up": {"backlog": backlog, "missing": len(missing), "all_visible_ms": round(catch_up_ms, 1)},
            "note": "one at a time; post start -> node in the console timeline; one server, DEBUG=1, tasks eager",
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"mastodon-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(figures, indent=2))
        print(f"\n[mastodon bench] {json.dumps(figures)}\n  -> {path.relative_to(ROOT)}")
        assert not missing
        assert console.errors == []
    finally:
        console.context.close()
