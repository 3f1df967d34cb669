"""The runner's own PostgreSQL and Redis: private instances on free ports, in a temporary directory.

The chaos runner restarts and empties these; it never touches the shared servers on :5432 and
:6379. PostgreSQL runs with trust authentication on 127.0.0.1 only and with `fsync=off`: the
faults are process crashes, which lose nothing that `write()` handed to the kernel (commits
still wait for their WAL to be written: `synchronous_commit` stays on), not power cuts.
Redis runs without persistence, so a restart comes back empty.

PostgreSQL refuses to run as root; when the runner is root, its commands run as the `postgres`
user (Debian's package creates it), which then owns the data directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg


def postgres_bindir(explicit: str | None = None) -> Path:
    """Where initdb and pg_ctl are: `explicit`, the PATH, or the newest /usr/lib/postgresql/*/bin."""
    if explicit:
        return Path(explicit)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries (initdb); install postgresql or pass --pg-bin")
    return Path(candidates[-1]).parent


def missing_binaries(pg_bin: str | None = None) -> list[str]:
    """What a run needs and this machine lacks (empty when it can run)."""
    missing = []
    try:
        bindir = postgres_bindir(pg_bin)
        if not (bindir / "pg_ctl").exists():
            missing.append(f"pg_ctl in {bindir}")
    except RuntimeError as exc:
        missing.append(str(exc))
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


class PrivatePostgres:
    def __init__(self, workdir: Path, port: int, bindir: Path) -> None:
        self.dir = workdir / "postgres"
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = port
        self.bindir = bindir
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pwd.getpwnam(self.user)  # KeyError: no such user; better here than in initdb

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bindir / cmd[0]), *cmd[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def _options(self) -> str:
        return " ".join(
            [
                f"-p {self.port}",
                f"-k {self.dir}",  # the Unix socket stays in our directory
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c max_connections=200",
                "-c log_min_messages=warning",
                "-c log_connections=off",
            ]
        )

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        result = self._run(
            "pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log_path), "-o", self._options(),
            *extra, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_ctl {action} {' '.join(extra)} failed: {result.stdout}{result.stderr}{self.log_tail()}"
            )

    def restart(self, mode: str) -> None:
        """`pg_ctl restart -m fast|immediate`: returns when the server accepts connections again."""
        self._pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", check=False)

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class PrivateRedis:
    def __init__(self, workdir: Path, port: int, log_path: Path) -> None:
        self.dir = workdir / "redis"
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on :{self.port} did not answer within {timeout:.0f} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart_empty(self, down: float = 0.0) -> None:
        """Kill the server (no save: nothing persists) and start a new, empty one on the same port."""
        self.kill()
        if down > 0:
            time.sleep(down)
        self.start()

    def stop(self) -> None:
        self.kill()


def wait_postgres(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL at {url} did not answer: {last}")
