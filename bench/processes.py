"""The server processes a bench starts: one place to start, watch, restart and stop them.

Used by bench/run.py (`make bench`), bench/email_inbound.py and bench/chaos (`make chaos`).
Every process runs in its own process group (so that a signal reaches its children, e.g. a
Celery pool), logs to `<log_dir>/<name>.log` (appended: a restarted process keeps the log of
its earlier life) and is stopped by `stop()`: SIGTERM, then SIGKILL for what is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PY = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

# Environment variables the project reads. A bench sets its own and takes none of these from
# the caller's shell, so a developer's exported DATABASE_URL cannot point a bench elsewhere.
PROJECT_ENV_PREFIXES = (
    "DJANGO_",
    "DATABASE_",
    "CELERY_",
    "CHANNEL_",
    "TWILIO_",
    "CONSOLE_",
    "REDIS_",
    "EMAIL_",
    "TELEGRAM_",
    "PRESENCE_",
    "EVENT_",
    "BUS_",
    "OUTBOUND_",
    "MESSAGE_",
    "TASKS_",
    "XMPP_",
    "WIDGET_",
)
SECRET_KEY = "bench-not-a-secret-" + "x" * 40


def clean_environ() -> dict[str, str]:
    """This process's environment without the project's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_ENV_PREFIXES)}


def reset_services(*, pg: str, database: str, redis_url: str, env: dict[str, str]) -> None:
    """A bench's own database, new and migrated, and its own Redis db, empty."""
    import psycopg
    import redis

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(redis_url).flushdb()
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def server_env(*, database_url: str, redis_url: str, secret_key: str = SECRET_KEY, **settings: str) -> dict[str, str]:
    """The environment of a bench's server processes: the project's settings come from here only,
    not from whatever the caller's shell has. Production-like (DEBUG=0, tasks through Celery,
    one pooled connection per process); `settings` adds to it or overrides it."""
    env = clean_environ()
    env.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        DATABASE_POOL="1",
        REDIS_URL=redis_url,
        TASKS_EAGER="0",
        DEBUG="0",
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def bin_path(name: str) -> str:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from a last run is fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Every process a bench starts, by name, each in its own process group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.items: dict[str, subprocess.Popen] = {}
        self.ignore_dead: set[str] = set()  # names whose exit is expected (a load generator)

    def start(self, name: str, cmd: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen:
        """Start `cmd` as `name`; a process of that name that ran before is replaced."""
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it
        proc = subprocess.Popen(
            cmd,
            cwd=kw.pop("cwd", ROOT),
            env=env,
            stdout=kw.pop("stdout", out),
            stderr=kw.pop("stderr", out),
            start_new_session=True,
            **kw,
        )
        out.close()
        self.items[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def dead(self) -> list[str]:
        return [
            f"{name} (exit {proc.returncode})"
            for name, proc in self.items.items()
            if name not in self.ignore_dead and proc.poll() is not None
        ]

    def signal(self, name: str, signum: int) -> None:
        """Send `signum` to the process group of `name` (the process and its children)."""
        try:
            os.killpg(self.items[name].pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, names: list[str] | None = None, grace: float = 8.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL each group (pool children too)."""
        chosen = [(n, p) for n, p in self.items.items() if names is None or n in names]
        for _, proc in chosen:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for name, proc in chosen:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop on SIGTERM; killing its process group", file=sys.stderr, flush=True)
        for _, proc in chosen:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group (pool children)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def wait_http(url: str, timeout: float, procs: Processes, names: list[str] | None = None) -> None:
    """Wait until `url` answers 200; fail early when one of the processes (`names`: these) died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [d for d in procs.dead() if names is None or d.split(" ")[0] in names]
        if dead:
            raise RuntimeError(f"a server process exited: {', '.join(dead)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
