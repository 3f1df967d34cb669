from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import slixmpp

from apps.accounts.models import Inbox
from apps.gateways.xmpp.models import XmppAccount
from apps.gateways.xmpp.runner import XmppRunner, run_in_thread
from tests.gateways.xmpp import prosody
from tests.requires import missing


@pytest.fixture(scope="session")
def prosody_server() -> Iterator[prosody.Prosody]:
    """A private prosody for this test run (skipped, or failed under REQUIRE_SERVICES=1, when
    Debian's prosody is not installed)."""
    if not prosody.available():
        reason = "prosody is not installed (apt-get install prosody; .ci/run does it)"
        missing(reason)
    # Not under pytest's tmp_path (private to root): prosody runs as the `prosody` user.
    root = Path(tempfile.mkdtemp(prefix="supportdesk-prosody-"))
    os.chmod(root, 0o755)
    server = prosody.Prosody(root)
    server._write_config()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def xmpp_settings(settings) -> Any:
    settings.XMPP_ALLOW_PLAINTEXT = True  # the private prosody has no TLS
    settings.XMPP_MEDIA_PRIVATE_ADDRESSES = True  # its file share is on 127.0.0.1
    settings.XMPP_KEEPALIVE_SECONDS = 2
    settings.XMPP_RECONNECT_MAX_SECONDS = 2.0
    settings.XMPP_SEND_TIMEOUT_SECONDS = 10.0
    settings.BUS_POLL_SECONDS = 0.5
    return settings


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def accounts(prosody_server) -> Callable[[str], tuple[str, str]]:
    """Fresh accounts on the private prosody (each test its own archive): name -> (jid, password)."""

    def make(name: str) -> tuple[str, str]:
        user = f"{name}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        return prosody_server.register(user, password), password

    return make


@pytest.fixture
def xmpp_inbox(transactional_db, xmpp_settings, prosody_server, accounts, team) -> Inbox:
    jid, password = accounts("support")
    inbox = Inbox.objects.create(name="XMPP support", channel=Inbox.Channel.XMPP, address=jid, team=team)
    XmppAccount.objects.create(inbox=inbox, jid=jid, password=password, host="127.0.0.1", port=prosody_server.c2s_port)
    return inbox


class Desk:
    """run_xmpp on a thread of the test process, as `make run` runs it."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.runner: XmppRunner | None = None

    def start(self, reload_seconds: float = 30.0) -> Desk:
        self.stop_event = threading.Event()
        self.thread, self.runner = run_in_thread(self.stop_event, reload_seconds=reload_seconds)
        return self

    def account(self) -> Any:
        assert self.runner is not None
        return wait_for(lambda: next(iter(self.runner.accounts.values()), None), what="the account's runner")

    def connected(self, sessions: int = 1) -> Any:
        account = self.account()
        wait_for(
            lambda: account.connects >= sessions and account.client is not None and account.client.ready,
            what=f"session {sessions} of the desk",
        )
        wait_for(lambda: not account.catching_up and not account.needs_catch_up, what="the catch-up")
        return account

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(30)
            assert not self.thread.is_alive(), "run_xmpp did not stop"
        self.thread = None
        # Its helper threads close their database connections as they end.
        wait_for(
            lambda: not [t.name for t in threading.enumerate() if t.name.startswith(("xmpp", "event-stream"))],
            what="run_xmpp's threads to end",
        )


@pytest.fixture
def desk(xmpp_inbox) -> Iterator[Desk]:
    running = Desk()
    yield running
    running.stop()


class Customer:
    """A customer's XMPP client (slixmpp on its own loop and thread)."""

    def __init__(self, jid: str, password: str, port: int) -> None:
        self.jid = jid
        self.password = password
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.received: list[Any] = []
        self.receipts: list[str] = []
        self.states: list[tuple[str, str]] = []
        self.client: Any = None

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self) -> Customer:
        async def go() -> None:
            client = slixmpp.ClientXMPP(f"{self.jid}/phone", self.password)
            for plugin in ("xep_0030", "xep_0066", "xep_0085", "xep_0184", "xep_0199", "xep_0359", "xep_0363"):
                client.register_plugin(plugin)
            client.plugin["xep_0184"].auto_ack = False  # a test acks when it means to
            client.plugin["feature_mechanisms"].unencrypted_scram = True
            client.plugin["feature_mechanisms"].unencrypted_plain = True
            started = asyncio.get_running_loop().create_future()
            client.add_event_handler("session_start", lambda _e: (client.send_presence(), started.set_result(True)))
            client.add_event_handler("message", lambda m: self.received.append(m))
            client.add_event_handler("receipt_received", lambda m: self.receipts.append(m["receipt"]))
            client.add_event_handler("chatstate", lambda m: self.states.append((m["from"].bare, m["chat_state"])))
            client.connect("127.0.0.1", self.port)
            await asyncio.wait_for(started, 20)
            self.client = client

        self._run(go())
        return self

    def send(
        self,
        to: str,
        body: str = "",
        *,
        oob: str = "",
        receipt: bool = False,
        state: str = "",
        msg_id: str | None = None,
    ) -> str:
        async def go() -> str:
            message = self.client.make_message(mto=to, mbody=body or None, mtype="chat")
            if msg_id:
                message["id"] = msg_id
            if oob:
                message["oob"]["url"] = oob
            if receipt:
                message["request_receipt"] = True
            if state:
                message["chat_state"] = state
            message.send()
            # A round trip to the server: it has routed the message when this returns.
            await self.client.plugin["xep_0199"].send_ping(self.client.boundjid.domain, timeout=10)
            return str(message["id"])

        return self._run(go())

    def ack(self, message: Any) -> None:
        async def go() -> None:
            self.client.plugin["xep_0184"].ack(message)
            await self.client.plugin["xep_0199"].send_ping(self.client.boundjid.domain, timeout=10)

        self._run(go())

    def upload(self, name: str, data: bytes, content_type: str) -> str:
        import io

        async def go() -> str:
            return str(
                await self.client.plugin["xep_0363"].upload_file(
                    name, size=len(data), content_type=content_type, input_file=io.BytesIO(data), domain=prosody.UPLOAD
                )
            )

        return self._run(go())

    def close(self) -> None:
        if not self.loop.is_running():
            return

        async def go() -> None:
            if self.client is not None:
                await self.client.disconnect(wait=1)
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            self._run(go(), timeout=10)
        except Exception:  # noqa: BLE001
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def customer(accounts, prosody_server) -> Iterator[Customer]:
    jid, password = accounts("alice")
    person = Customer(jid, password, prosody_server.c2s_port).connect()
    yield person
    person.close()
