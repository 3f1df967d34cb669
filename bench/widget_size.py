"""The web chat widget's script size: the loader (`/widget.js`) and everything a visitor's
browser downloads for the widget, raw and gzip-compressed.

    .venv/bin/python bench/widget_size.py                     # the files in the repository
    .venv/bin/python bench/widget_size.py --url http://127.0.0.1:8000   # as a running desk serves them

Target (issue 4): the loader under 30 KB uncompressed (30,000 bytes, checked strictly). The
panel (panel.js) is loaded by the loader once the desk has accepted the session; the total is
what a visitor's browser fetches. Exits 1 when the loader is over the target.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "apps" / "widget" / "static" / "widget"
LOADER_TARGET = 30_000


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def from_files() -> list[tuple[str, bytes]]:
    return [(name, (STATIC / name).read_bytes()) for name in ("widget.js", "panel.js")]


def from_server(url: str) -> list[tuple[str, bytes]]:
    base = url.rstrip("/")
    with urllib.request.urlopen(base + "/widget.js", timeout=10) as response:
        loader = response.read()
    match = re.search(rb'const PANEL = "([^"]+)"', loader)
    if not match:
        raise SystemExit('the served loader does not name its panel (const PANEL = "...")')
    panel_url = match.group(1).decode()
    if panel_url.startswith("/"):
        panel_url = base + panel_url
    with urllib.request.urlopen(panel_url, timeout=10) as response:
        panel = response.read()
    return [("/widget.js", loader), (panel_url.removeprefix(base), panel)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="measure what a running desk serves (its base URL)")
    args = parser.parse_args()
    files = from_server(args.url) if args.url else from_files()
    width = max(len(name) for name, _ in files) + 2
    print(f"{'file':<{width}}{'raw bytes':>12}{'gzip -9':>12}")
    for name, data in files:
        print(f"{name:<{width}}{len(data):>12,}{gzipped(data):>12,}")
    total = b"".join(data for _, data in files)
    raw_total = sum(len(data) for _, data in files)
    gzip_total = sum(gzipped(data) for _, data in files)
    print(f"{'total':<{width}}{raw_total:>12,}{gzip_total:>12,}")
    loader = len(files[0][1])
    ok = loader < LOADER_TARGET
    print(
        f"\nloader {loader:,} bytes uncompressed: {'within' if ok else 'OVER'} the target "
        f"(< {LOADER_TARGET:,}); both files as one gzip stream: {gzipped(total):,} bytes"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
