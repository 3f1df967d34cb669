"""The SMTP listener (aiosmtpd): mail for INBOUND_EMAIL_DOMAIN into the journal.

- RCPT: only addresses at INBOUND_EMAIL_DOMAIN (550 otherwise), at most 100 per mail (452).
- SIZE is advertised (EMAIL_MAX_BYTES); a bigger mail is refused with 552, at MAIL FROM when
  the client declares its size, else at the end of DATA. Nothing of it is stored.
- DATA: `email_accept` runs on a worker thread (the ORM never blocks the event loop); `250` is
  answered only once the journal row is committed, `451` (try again) if the database failed.
- Stop (SIGTERM/SIGINT): no new connections, mails being stored finish (up to 10 s), then open
  sessions are closed — a client cut off mid-DATA never got a 250 and sends again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections

from apps.gateways.email.intake import email_accept, envelope_of

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
STOP_GRACE_SECONDS = 10.0


class IntakeSMTP(SMTP):
    # RFC 5321 allows 1000 octets a line; real mail (HTML from some clients) breaks that and
    # MTAs pass it on. Refusing it would lose real mail; memory stays bounded by the size limit.
    line_length_limit = 1 << 16


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"SMTP_LISTEN must be host:port, not {value!r}")
    return host.strip("[]"), int(port)


class IntakeHandler:
    def __init__(self, *, domain: str, executor: ThreadPoolExecutor) -> None:
        self.domain = domain.lower().strip().lstrip("@")
        self.executor = executor
        self.in_flight = 0
        self.accepted = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        domain = address.rpartition("@")[2].lower()
        if "@" not in address or domain != self.domain:
            log.info("SMTP: refused recipient %s from %s", address, _peer(session))
            return f"550 5.1.1 <{address}>: this server takes mail for @{self.domain} only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        if not isinstance(raw, bytes):  # pragma: no cover - decode_data is off
            raw = str(raw).encode("utf-8", "surrogateescape")
        payload = envelope_of(
            transport="smtp",
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            peer=_peer(session),
        )
        self.in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            entry, created = await loop.run_in_executor(self.executor, _accept, raw, payload)
        except Exception:  # noqa: BLE001 - the sender keeps the mail and retries on 4xx
            log.exception("SMTP: could not store a mail from %s to %s", payload["mail_from"], payload["rcpt_tos"])
            return "451 4.3.0 The mail could not be stored; try again later"
        finally:
            self.in_flight -= 1
        self.accepted += 1
        log.info(
            "SMTP: %s mail from <%s> to %s (%d bytes)",
            "stored" if created else "already had",
            payload["mail_from"],
            ", ".join(payload["rcpt_tos"]),
            len(raw),
        )
        return f"250 2.0.0 OK {entry.pk if entry else 'duplicate'}"


def _peer(session: Session) -> str:
    peer: Any = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


def _accept(raw: bytes, payload: dict[str, Any]) -> tuple[Any, bool]:
    close_old_connections()
    try:
        return email_accept(raw=raw, envelope=payload)
    finally:
        close_old_connections()


class SmtpListener:
    """The listener on one event loop (the command's, or a thread's)."""

    def __init__(self, *, host: str, port: int, domain: str, max_bytes: int | None = None, workers: int = 4) -> None:
        if not domain:
            raise ValueError("INBOUND_EMAIL_DOMAIN is not set: the listener would refuse every recipient")
        self.host, self.port = host, port
        self.max_bytes = max_bytes if max_bytes is not None else settings.EMAIL_MAX_BYTES
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-intake")
        self.handler = IntakeHandler(domain=domain, executor=self.executor)
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.server: asyncio.base_events.Server | None = None

    def _protocol(self) -> SMTP:
        protocol = IntakeSMTP(
            self.handler,
            data_size_limit=self.max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.handler.domain,
            ident="supportdesk",
        )
        self.sessions.add(protocol)
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, host=self.host, port=self.port)
        sockets = list(self.server.sockets or ())
        if sockets and self.port == 0:
            self.port = sockets[0].getsockname()[1]
        log.info(
            "SMTP listener on %s:%s: mail for @%s, at most %d bytes",
            self.host,
            self.port,
            self.handler.domain,
            self.max_bytes,
        )

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        if self.server is not None:
            self.server.close()
        deadline = asyncio.get_running_loop().time() + grace
        while self.handler.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.handler.in_flight:
            log.error("SMTP: stopping with %d mail(s) still being stored", self.handler.in_flight)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0)
        self.executor.shutdown(wait=True, cancel_futures=False)
        log.info("SMTP listener stopped (%d mails accepted)", self.handler.accepted)


class ListenerThread:
    """The listener on a thread of its own, for `manage.py serve` (embedded) and the tests."""

    def __init__(self, *, host: str, port: int, domain: str, max_bytes: int | None = None) -> None:
        self.listener = SmtpListener(host=host, port=port, domain=domain, max_bytes=max_bytes)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="smtp-listener", daemon=True)

    @property
    def port(self) -> int:
        return self.listener.port

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.listener.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> ListenerThread:
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop)
        future.result(timeout=STOP_GRACE_SECONDS + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
