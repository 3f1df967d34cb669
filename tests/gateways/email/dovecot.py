"""A private dovecot (Debian's dovecot-imapd) for the IMAP tests.

Its own configuration, state and maildirs in a temporary directory, IMAP on a free port of
127.0.0.1, plain-text logins from a passwd-file. It does not read /etc/dovecot and does not
touch a system dovecot (Debian's package may have started one on 143/993: irrelevant here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_USER = "nobody"  # dovecot refuses to give mail to root


def available() -> bool:
    return os.path.exists(DOVECOT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.config = root / "dovecot.conf"
        self.log = root / "dovecot.log"
        self.users: dict[str, str] = {}
        self._free: list[str] = []

    def add_users(self, count: int) -> None:
        """Write the passwd-file up front: dovecot notices a changed file only by its mtime (in
        seconds), so users added while it runs may not log in for a second."""
        for n in range(count):
            self.users[f"user{n:03d}"] = uuid.uuid4().hex
        lines = [f"{name}:{{PLAIN}}{secret}::::::" for name, secret in self.users.items()]
        (self.root / "passwd").write_text("\n".join(lines) + "\n")
        self._free = list(self.users)

    def take_user(self) -> tuple[str, str]:
        """A mailbox no test has used yet."""
        username = self._free.pop(0)
        return username, self.users[username]

    def _write_config(self) -> None:
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        shutil.chown(mail, MAIL_USER, "nogroup")
        for sub in ("run", "state"):
            (self.root / sub).mkdir(exist_ok=True)
        self.config.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_USER} gid=nogroup home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""
        )

    def start(self) -> Dovecot:
        if not self.users:
            self.add_users(300)
        self._write_config()
        # dovecot forks into the background: its output goes to a file, not to a pipe we wait on.
        with open(self.root / "start.out", "wb") as out:
            code = subprocess.run([DOVECOT, "-c", str(self.config)], stdout=out, stderr=out, timeout=30).returncode
        if code != 0:
            raise RuntimeError(f"dovecot did not start: {(self.root / 'start.out').read_text()}{self.read_log()}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on {self.port}: {self.read_log()}")

    def stop(self) -> None:
        subprocess.run(
            [DOVECOT, "-c", str(self.config), "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30
        )
        pid_file = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""
