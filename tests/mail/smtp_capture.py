"""A real SMTP server for the tests (aiosmtpd on a free loopback port) that keeps what it is sent.

It can be told to refuse the next sends at RCPT or DATA with a given answer (a 4xx the outbox
retries, a 5xx it records as failed), or to drop the connection, so every way an SMTP relay
answers can be tested against the real protocol.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class CapturedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class _Script:
    stage: str  # "RCPT" or "DATA"
    answer: str
    times: int


@dataclass
class _Handler:
    mails: list[CapturedMail] = field(default_factory=list)
    scripts: list[_Script] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _scripted(self, stage: str) -> str | None:
        with self.lock:
            for script in self.scripts:
                if script.stage == stage and script.times > 0:
                    script.times -= 1
                    return script.answer
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            self.attempts += 1
        answer = self._scripted("RCPT")
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        answer = self._scripted("DATA")
        if answer:
            return answer
        with self.lock:
            self.mails.append(CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpCapture:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpCapture:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def mails(self) -> list[CapturedMail]:
        with self.handler.lock:
            return list(self.handler.mails)

    @property
    def attempts(self) -> int:
        return self.handler.attempts

    def refuse(self, answer: str, *, stage: str = "DATA", times: int = 1) -> None:
        """Answer the next `times` sends with `answer` (e.g. "451 4.3.0 Try again later")."""
        with self.handler.lock:
            self.handler.scripts.append(_Script(stage, answer, times))

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.mails.clear()
            self.handler.scripts.clear()
            self.handler.attempts = 0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.mails
            if len(mails) >= count:
                return mails
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mails, the SMTP server got {len(self.mails)}")
