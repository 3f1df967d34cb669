"""Command-line options of `make chaos` (python -m bench.chaos)."""

from __future__ import annotations

import argparse

from bench.chaos.faults import DEFAULT_FAULTS

# The full run and the short one that `make test` runs (tests/test_chaos.py). An option given on
# the command line wins over both.
FULL = {
    "count": 100,
    "interval": 10.0,
    "stop_seconds": 8.0,
    "settle": 300.0,
    "warmup": 5.0,
    "reconnect_every": 8.0,
}
SHORT = {
    "count": 10,
    "interval": 5.0,
    "stop_seconds": 4.0,
    "settle": 60.0,
    "warmup": 3.0,
    "reconnect_every": 5.0,
}

USAGE = """
examples:
  make chaos                                   # the full run: 100 faults, about 25 minutes
  make chaos CHAOS_ARGS=--short                # 10 faults, about 2 minutes (what make test runs)
  .venv/bin/python -m bench.chaos --faults worker-kill,redis-restart --count 20 --seed 7
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="Fault injection on the production layout (bench/README.md, 'make chaos').",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--short", action="store_true", help="the short run (defaults: " + _preset(SHORT) + ")")
    p.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")

    g = p.add_argument_group("faults")
    g.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help="comma-separated fault kinds, injected in shuffled rounds (default: %(default)s); "
        "<role>-kill and <role>-stop exist for the roles of bench/chaos/layout.py that allow them",
    )
    g.add_argument("--count", type=int, help=f"faults to inject (default {FULL['count']})")
    g.add_argument("--interval", type=float, help=f"seconds between two faults (default {FULL['interval']:g})")
    g.add_argument("--stop-seconds", type=float, help=f"how long a SIGSTOP lasts (default {FULL['stop_seconds']:g})")
    g.add_argument("--redis-down", type=float, default=1.0, help="seconds Redis stays down on a restart (default 1)")
    g.add_argument(
        "--lost-answers", type=int, default=2, help="sends whose answer twilio-lost-answer loses (default 2)"
    )
    g.add_argument(
        "--restart-delay",
        type=float,
        default=1.0,
        help="supervisor: seconds before a dead process restarts (default 1)",
    )

    g = p.add_argument_group("load")
    g.add_argument("--rate", type=float, default=20.0, help="inbound SMS webhooks per second (default 20)")
    g.add_argument("--reply-rate", type=float, default=5.0, help="agent replies per second (default 5)")
    g.add_argument(
        "--redeliver", type=float, default=0.05, help="share of webhooks delivered twice (same sid) (default 0.05)"
    )
    g.add_argument(
        "--resend",
        type=float,
        default=0.05,
        help="share of answered replies sent again (same client_id) (default 0.05)",
    )
    g.add_argument("--senders", type=int, default=200, help="distinct customer numbers (default 200)")
    g.add_argument(
        "--consoles",
        default="readme,confirmed",
        help="console sockets by resume mode, comma-separated: readme (the higher of the confirmed "
        "position and the highest id seen) or confirmed (heartbeat/pong only) (default %(default)s)",
    )
    g.add_argument(
        "--reconnect-every",
        type=float,
        help=f"a console reconnects after 0.5-1.5 times this many seconds (default {FULL['reconnect_every']:g})",
    )
    g.add_argument(
        "--twilio-latency", type=float, default=0.2, help="seconds the fake Twilio takes to answer a send (default 0.2)"
    )
    g.add_argument(
        "--callback-delay",
        type=float,
        default=0.3,
        help="seconds between a send and its 'sent', and between 'sent' and 'delivered' callbacks (default 0.3)",
    )
    g.add_argument("--warmup", type=float, help=f"seconds of load before the first fault (default {FULL['warmup']:g})")
    g.add_argument(
        "--settle",
        type=float,
        help="after the load stops, wait at most this long for pending work to finish "
        f"(default {FULL['settle']:g}; a lease of 120 s and a sweep every 15 s need about 140)",
    )

    g = p.add_argument_group("layout")
    g.add_argument("--web", type=int, default=2, help="web processes (default 2)")
    g.add_argument("--workers", type=int, default=1, help="Celery worker processes (default 1, as docker-compose.yml)")
    g.add_argument("--concurrency", type=int, default=4, help="threads per Celery worker (default 4)")
    g.add_argument("--pg-bin", help="directory of initdb and pg_ctl (default: PATH, then /usr/lib/postgresql/*/bin)")

    g = p.add_argument_group("output")
    g.add_argument("--out", help="results JSON (default bench/results/chaos-<time>.json)")
    g.add_argument("--log-dir", help="server logs (default bench/results/chaos-<time>-logs/)")
    args = p.parse_args(argv)
    preset = SHORT if args.short else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.fault_kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    args.console_modes = [m.strip() for m in args.consoles.split(",") if m.strip()]
    return args


def _preset(values: dict[str, float]) -> str:
    return ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in values.items())
