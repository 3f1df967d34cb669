"""Where a running `manage.py serve` can be reached, for commands run in another terminal.

`serve` writes SERVER_RUN_FILE (`.supportdesk-server.json` in the project folder, git-ignored)
when it starts and removes it when it stops: the address it listens on and the PUBLIC_BASE_URL
it checks Twilio signatures against. `simulate_sms` reads it, so that `make run PORT=9000` in one terminal and
`manage.py simulate_sms` in another agree without exporting anything. A file left by a server
that was killed is ignored (its process is gone).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningServer:
    url: str  # where to reach it from this machine, e.g. http://127.0.0.1:9000
    public_base_url: str  # what it signs and checks Twilio webhooks against
    pid: int


def runfile_path() -> Path | None:
    return Path(settings.SERVER_RUN_FILE) if settings.SERVER_RUN_FILE else None


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server listening on host:port."""
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def runfile_write(*, host: str, port: int) -> Path | None:
    """Record this process as the running server; None when the folder is not writable (an image)."""
    path = runfile_path()
    if path is None:
        return None
    data = {"url": local_url(host, port), "public_base_url": settings.PUBLIC_BASE_URL, "pid": os.getpid()}
    try:
        path.write_text(json.dumps(data) + "\n")
    except OSError as exc:
        log.info("not writing %s: %s", path, exc)
        return None
    return path


def runfile_remove() -> None:
    path = runfile_path()
    if path is None:
        return
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but there
    return True


def running_server() -> RunningServer | None:
    """The server that wrote the file, if it is still running."""
    path = runfile_path()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        server = RunningServer(url=str(data["url"]), public_base_url=str(data["public_base_url"]), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if _alive(server.pid) else None
