"""A private prosody (Debian's `prosody`) for the XMPP tests.

Its own configuration and data in a temporary directory; c2s and HTTP (file share) on free
ports of 127.0.0.1; no TLS, plaintext SASL allowed (test only); mod_mam on (archive policy:
everything), mod_carbons off, mod_offline on (as a real server: offline and archived copies
of one message must be deduplicated). It never reads /etc/prosody and never touches a system
prosody. Prosody refuses to run as root, so it runs as the `prosody` user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PROSODY = shutil.which("prosody") or "/usr/bin/prosody"
PROSODYCTL = shutil.which("prosodyctl") or "/usr/bin/prosodyctl"
DOMAIN = "desk.localhost"
UPLOAD = f"upload.{DOMAIN}"


def available() -> bool:
    return os.path.exists(PROSODY) and os.path.exists(PROSODYCTL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_prosody() -> list[str]:
    return ["runuser", "-u", "prosody", "--"] if os.geteuid() == 0 else []


class Prosody:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.c2s_port = _free_port()
        self.http_port = _free_port()
        self.config = root / "prosody.cfg.lua"
        self.log = root / "prosody.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "prosody", "prosody")
            self.log.touch()
            shutil.chown(self.log, "prosody", "prosody")
        self.config.write_text(
            f"""
pidfile = "{data}/prosody.pid"
data_path = "{data}"
certificates = "{data}"
daemonize = false
log = {{ info = "{self.log}" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
modules_enabled = {{ "roster", "saslauth", "disco", "pep", "ping", "register", "mam", "offline", "posix" }}
modules_disabled = {{ "s2s", "carbons", "tls" }}
archive_expires_after = "1w"
default_archive_policy = true
max_archive_query_results = 1000
http_file_share_size_limit = 10485760
c2s_stanza_size_limit = 1048576
limits = {{ c2s = {{ rate = "10mb/s"; burst = "10mb" }} }}
VirtualHost "{DOMAIN}"
Component "{UPLOAD}" "http_file_share"
  http_host = "127.0.0.1"
  http_external_url = "http://127.0.0.1:{self.http_port}/"
"""
        )
        if os.geteuid() == 0:
            os.chmod(self.config, 0o644)

    def register(self, user: str, password: str) -> str:
        subprocess.run(
            [PROSODYCTL, "--config", str(self.config), "register", user, DOMAIN, password],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return f"{user}@{DOMAIN}"

    def start(self) -> Prosody:
        if not self.config.exists():
            self._write_config()
        out = open(self.root / "stdout.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [*_as_prosody(), PROSODY, "--config", str(self.config), "-F"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prosody exited: {self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.c2s_port), timeout=1):
                    with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prosody did not listen on {self.c2s_port}: {self.read_log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # runuser's child is prosody: signal the whole session it leads.
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def pause(self) -> None:
        """Freeze prosody (SIGSTOP): connections stay open, nothing is answered."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        # The ports must be free again before prosody binds them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.c2s_port), timeout=0.5):
                    time.sleep(0.1)
            except OSError:
                break
        self.start()

    def read_log(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""
