"""The process layout under test: which processes, their commands and their environment.

This is the one place to change when the layout changes (a new bus process, another command,
another setting): the runner starts, watches, restarts and hurts exactly what `layout()`
returns, and nothing else in bench/chaos names a process or a setting.

The production layout (docker-compose.yml, docs/DESIGN.md §6): two ASGI web processes
(`manage.py serve`, DEBUG=0), two bus workers (`manage.py run_bus`: the journal drain and the
outbox sender), one Celery worker (threads pool, as docker-compose.yml runs it; `--workers` for
more; media, mail and other tasks) and one Celery beat, whose schedule runs the sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import PY, bin_path, clean_environ

# The faults a process can suffer (bench/chaos/faults.py): SIGKILL and a supervisor restart,
# or SIGSTOP for a while and SIGCONT.
KILL = "kill"
STOP = "stop"


@dataclass(frozen=True)
class Wiring:
    """What the runner set up for the layout: private services, the fake provider, ports."""

    database_url: str
    redis_url: str
    twilio_base_url: str
    twilio_account_sid: str
    twilio_auth_token: str
    public_base_url: str  # what Twilio signs; the load balancer's address in production
    web_ports: list[int]
    workdir: Path


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # unique: web0, web1, worker0, beat
    role: str  # what faults are named after: "web" -> web-kill
    argv: list[str]
    env: dict[str, str]
    ready_url: str | None = None  # answers 200 once the process serves; None: up once started
    faults: tuple[str, ...] = ()  # KILL, STOP


@dataclass(frozen=True)
class Layout:
    processes: list[ProcessSpec]
    http_urls: list[str]  # where webhooks, the REST API and the sockets go (round robin, failover)
    notes: list[str] = field(default_factory=list)  # printed with the report

    def roles(self) -> list[str]:
        return list(dict.fromkeys(p.role for p in self.processes))


def app_env(wiring: Wiring) -> dict[str, str]:
    """The settings every process of the layout shares (as docker-compose.yml's x-app)."""
    env = clean_environ()
    env.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="0",
        SECRET_KEY="chaos-not-a-secret-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=wiring.database_url,
        REDIS_URL=wiring.redis_url,
        PUBLIC_BASE_URL=wiring.public_base_url,
        TWILIO_ACCOUNT_SID=wiring.twilio_account_sid,
        TWILIO_AUTH_TOKEN=wiring.twilio_auth_token,
        TWILIO_API_BASE_URL=wiring.twilio_base_url,
        LOG_LEVEL="WARNING",
    )
    return env


def layout(wiring: Wiring, *, workers: int = 1, concurrency: int = 4, bus_workers: int = 2) -> Layout:
    env = app_env(wiring)
    processes = [
        ProcessSpec(
            name=f"web{i}",
            role="web",
            argv=[PY, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/healthz",
            faults=(KILL,),
        )
        for i, port in enumerate(wiring.web_ports)
    ]
    processes += [
        ProcessSpec(
            name=f"bus{i}",
            role="bus",
            argv=[PY, "manage.py", "run_bus"],
            env=env,
            faults=(KILL, STOP),
        )
        for i in range(bus_workers)
    ]
    processes += [
        ProcessSpec(
            name=f"worker{i}",
            role="worker",
            argv=[
                bin_path("celery"),
                "-A",
                "supportdesk",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "-n",
                f"worker{i}@%h",
            ],
            env=env,
            faults=(KILL, STOP),
        )  # fmt: skip
        for i in range(workers)
    ]
    processes.append(
        ProcessSpec(
            name="beat",
            role="beat",
            argv=[
                bin_path("celery"),
                "-A",
                "supportdesk",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(wiring.workdir / "celerybeat-schedule"),
            ],
            env=env,
        )  # fmt: skip
    )
    return Layout(
        processes=processes,
        http_urls=[f"http://127.0.0.1:{port}" for port in wiring.web_ports],
        notes=[
            f"{len(wiring.web_ports)} web (manage.py serve, DEBUG=0), {bus_workers} bus worker(s) (run_bus), "
            f"{workers} Celery worker(s) "
            f"--pool threads --concurrency {concurrency}, Celery beat (the bus sweeper)"
        ],
    )


def setup_commands(wiring: Wiring) -> list[list[str]]:
    """Run once before the layout starts (docker-compose.yml's `migrate` service)."""
    return [[PY, "manage.py", "migrate", "--noinput", "-v", "0"]]
