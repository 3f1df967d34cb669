"""Post → visible in a real console: the timing bench/console_latency.py and
bench/mastodon_inbound.py share. The page is a console (tests/browser/support.py) with a
conversation open; each post carries `bench-<token>` in its text, and a MutationObserver notes
when a node with that token appears in the timeline (the same machine's wall clock on both sides).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.browser.support import wait_for_js

OBSERVE = """
() => {
  window.__seen = {};
  const observer = new MutationObserver((mutations) => {
    const at = performance.timeOrigin + performance.now();
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (node.nodeType !== 1) continue;
        for (const match of (node.textContent || "").matchAll(/bench-([0-9a-f]{12})/g)) {
          if (!(match[1] in window.__seen)) window.__seen[match[1]] = at;
        }
      }
    }
  });
  observer.observe(document.getElementById("timeline"), { childList: true, subtree: true });
}
"""


def bench_token() -> str:
    return uuid.uuid4().hex[:12]


def timed_posts(page: Any, post: Callable[[str], object], count: int, *, timeout_ms: int) -> list[float]:
    """Milliseconds from just before each of `count` posts (one at a time) until its message is
    in the timeline. The page must have run OBSERVE."""
    latencies = []
    for _ in range(count):
        token = bench_token()
        started = time.time() * 1000
        post(f"bench-{token}")
        wait_for_js(page, f"'{token}' in window.__seen", timeout=timeout_ms)
        latencies.append(page.evaluate(f"window.__seen['{token}']") - started)
    return latencies
