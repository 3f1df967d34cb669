"""`run_xmpp`: one connection per enabled XMPP account, on one asyncio loop.

- Each account has a supervisor: connect, catch up from the archive (MAM) after the stored
  cursor, then watch the session (a ping every XMPP_KEEPALIVE_SECONDS finds a dead peer); after
  any drop, a new connection after a backoff (1 s doubling to XMPP_RECONNECT_MAX_SECONDS, with
  jitter). slixmpp reconnects nothing by itself once a session was up.
- In: every message (live, offline or archived) goes into the bus's inbound journal on the
  database thread, in the order read; its (source, server stanza-id) constraint makes the live
  and the archived copy of one message one entry. The cursor moves only past what committed.
- Out: a thread claims the `xmpp` outbox entries of the connected inboxes (the bus worker
  never does: `claimed_by_own_process`), woken by the outbox doorbell (PostgreSQL NOTIFY), and
  sends each through the bus's exactly-once path; the gateway hands the stanza to this loop.
- Agents typing: the event stream (apps.bus.stream) hands this process the log; typing events
  of its inboxes become chat states (XEP-0085) to the customer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from apps.bus import doorbell
from apps.bus.events import EventType
from apps.bus.services.outbox import outbox_claim, outbox_renew_leases, outbox_send_claimed
from apps.bus.stream import EventStream, StreamEvent
from apps.gateways.xmpp import services
from apps.gateways.xmpp.client import DeskClient
from apps.gateways.xmpp.holder import AccountLocks
from apps.gateways.xmpp.live import live
from apps.gateways.xmpp.services import AccountConfig, StanzaRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 30.0
CURSOR_SAVE_DELAY = 1.0


def _in_db_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except Exception:
        # A connection broken by a PostgreSQL restart is not used again.
        close_old_connections()
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        raise


class AccountRunner:
    """One account: its supervisor task, and what its connection hands over."""

    def __init__(self, runner: XmppRunner, config: AccountConfig) -> None:
        self.runner = runner
        self.config = config
        self.client: DeskClient | None = None
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.catching_up = False
        self.needs_catch_up = False
        self.connects = 0  # sessions established (tests, logs)
        self.taken = 0  # messages handed to the journal …
        self.duplicates = 0  # … of which it had already (live vs offline vs archive copies)
        self._cursor: tuple[str, dt.datetime] | None = None
        self._cursor_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.supervise())

    async def stop(self) -> None:
        self.stopping = True
        client = self.client
        if client is not None and client.transport is not None:
            try:
                await asyncio.wait_for(client.disconnect(wait=1.0), 3)
            except Exception:  # noqa: BLE001
                client.abort()
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self.client is not None:
            self.client.discard()

    # --- the connection ---------------------------------------------------------------------
    async def supervise(self) -> None:
        delay = 1.0
        jid = self.config.jid
        while not self.stopping:
            client = DeskClient(self.config, self)
            self.client = client
            if self.config.host:
                client.connect(self.config.host, self.config.port or 5222)
            else:
                client.connect()
            try:
                up = await asyncio.wait_for(asyncio.shield(client.started), CONNECT_TIMEOUT)
            except TimeoutError:
                up = False
            if up:
                delay = 1.0
                self.connects += 1
                log.info("xmpp %s: connected (session %s)", jid, self.connects)
                live.up(self.config.inbox_id, client)
                try:
                    await self.session(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a bug in a session: log it and connect anew
                    log.exception("xmpp %s: session failed", jid)
                finally:
                    live.down(self.config.inbox_id, client)
            client.discard()
            if self.stopping:
                return
            wait = delay * random.uniform(0.8, 1.2)
            log.warning(
                "xmpp %s: %s; connecting again in %.1f s", jid, "connection lost" if up else "cannot connect", wait
            )
            await asyncio.sleep(wait)
            delay = min(settings.XMPP_RECONNECT_MAX_SECONDS, delay * 2)

    async def session(self, client: DeskClient) -> None:
        gone = client.disconnected
        await self.catch_up(client)
        self.runner.wake_sender()
        while client.ready and not self.stopping:
            done, _ = await asyncio.wait({gone}, timeout=settings.XMPP_KEEPALIVE_SECONDS)
            if done or not client.ready:
                return
            if self.needs_catch_up:
                await self.catch_up(client)
            if not await client.keepalive():
                log.warning("xmpp %s: the server stopped answering; dropping the connection", self.config.jid)
                client.abort()
                return

    async def catch_up(self, client: DeskClient) -> None:
        self.catching_up = True
        try:
            cursor, cursor_at = await self.runner.db(services.xmpp_cursor, self.config.id)
            await client.catch_up(cursor, cursor_at)
            self.needs_catch_up = False
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the database or the server: try again at the next round
            log.exception("xmpp %s: catching up from the archive failed; trying again later", self.config.jid)
            self.needs_catch_up = True
        finally:
            self.catching_up = False

    # --- in ---------------------------------------------------------------------------------
    def take(self, record: StanzaRecord, raw: bytes, *, then: Callable[[], None] | None) -> None:
        """A live message: into the journal on the database thread (in arrival order)."""
        task = asyncio.ensure_future(self._take_live(record, raw, then))
        self.runner.keep(task)

    async def _take_live(self, record: StanzaRecord, raw: bytes, then: Callable[[], None] | None) -> None:
        try:
            await self.take_now(record, raw)
        except Exception:  # noqa: BLE001 - the archive still has it: the next catch-up takes it
            log.exception(
                "xmpp %s: storing message %s failed; the archive catch-up will take it", self.config.jid, record.key
            )
            self.needs_catch_up = True
            return
        if then is not None:
            then()
        if record.stanza_id and not self.catching_up and not self.needs_catch_up:
            self._cursor = (record.stanza_id, timezone.now())
            if self._cursor_task is None or self._cursor_task.done():
                self._cursor_task = asyncio.ensure_future(self._save_cursor_soon())

    async def take_now(self, record: StanzaRecord, raw: bytes) -> bool:
        created = await self.runner.db(services.xmpp_accept, account=self.config, record=record, raw=raw)
        self.taken += 1
        if not created:
            self.duplicates += 1
        return created

    async def _save_cursor_soon(self) -> None:
        await asyncio.sleep(CURSOR_SAVE_DELAY)  # one UPDATE for a burst of messages
        cursor, self._cursor = self._cursor, None
        if cursor is not None and not self.catching_up and not self.needs_catch_up:
            try:
                await self.runner.db(
                    services.xmpp_cursor_save, account_id=self.config.id, cursor=cursor[0], at=cursor[1]
                )
            except Exception:  # noqa: BLE001 - a cursor behind costs a re-read (deduplicated), never a loss
                log.warning("xmpp %s: saving the archive cursor failed", self.config.jid, exc_info=True)

    async def save_cursor(self, cursor: str, at: dt.datetime | None) -> None:
        await self.runner.db(services.xmpp_cursor_save, account_id=self.config.id, cursor=cursor, at=at)

    def receipt(self, stanza_id: str, sender: str, status: str, code: str = "", text: str = "") -> None:
        if not stanza_id:
            return
        self.runner.keep(
            asyncio.ensure_future(
                self.runner.db_logged(
                    services.xmpp_receipt,
                    stanza_id=stanza_id,
                    sender=sender,
                    status=status,
                    error_code=code,
                    error_text=text,
                )
            )
        )

    def typing(self, sender: str, on: bool) -> None:
        self.runner.keep(
            asyncio.ensure_future(
                self.runner.db_logged(
                    services.xmpp_customer_typing, inbox_id=self.config.inbox_id, sender=sender, on=on
                )
            )
        )


class XmppRunner:
    def __init__(self, *, stop: threading.Event | None = None, reload_seconds: float = 30.0) -> None:
        self.stop_event = stop or threading.Event()
        self.reload_seconds = reload_seconds
        self.accounts: dict[int, AccountRunner] = {}
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xmpp-db")
        self._tasks: set[asyncio.Future[Any]] = set()
        self._sender: threading.Thread | None = None
        self._sender_wake = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()  # the accounts were read and their connections started
        self.locks = AccountLocks()  # used on the database thread only
        self.waiting: set[int] = set()  # accounts another run_xmpp holds
        # Its own event stream: in a web process (make run) the server's loop has the other.
        self.events = EventStream()

    # --- helpers ------------------------------------------------------------------------------
    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(_in_db_thread, fn, *args, **kwargs))

    async def db_logged(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.db(fn, *args, **kwargs)
        except Exception:  # noqa: BLE001 - receipts and typing are best effort
            log.warning("xmpp: %s failed", getattr(fn, "__name__", fn), exc_info=True)
            return None

    def keep(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wake_sender(self) -> None:
        self._sender_wake.set()

    def inbox_ids(self) -> set[int]:
        return {a.config.inbox_id for a in self.accounts.values()}

    # --- the loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        live.set_loop(self.loop)
        self.events.attach(self)
        self._sender = threading.Thread(target=self._send_loop, name="xmpp-send", daemon=True)
        self._sender.start()
        try:
            while not self.stop_event.is_set():
                try:
                    await self._sync_accounts()
                except Exception:  # noqa: BLE001 - the database is away: keep what runs
                    log.warning("xmpp: reading the accounts failed", exc_info=True)
                self.ready.set()
                deadline = time.monotonic() + self.reload_seconds
                while not self.stop_event.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
        finally:
            self.events.detach(self)
            await asyncio.gather(*(a.stop() for a in self.accounts.values()), return_exceptions=True)
            self.accounts.clear()
            self._db.submit(self.locks.close)  # after the connections are closed: the next holder may log in
            live.set_loop(None)
            self._sender_wake.set()
            if self._sender is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._sender.join, 15)
            for task in list(self._tasks):
                task.cancel()
            self._db.submit(_close_connection)  # the database thread's own connection
            self._db.shutdown(wait=True)

    async def _sync_accounts(self) -> None:
        if not await self.db(self.locks.alive):
            log.error("xmpp: the database session holding the accounts' locks was lost; reconnecting them")
            await self._stop_accounts(list(self.accounts))
        configs = {c.id: c for c in await self.db(services.xmpp_accounts)}
        for account_id, account in list(self.accounts.items()):
            fresh = configs.get(account_id)
            if fresh is None or _connection_changed(account.config, fresh):
                await self._stop_accounts([account_id])
        for account_id, config in configs.items():
            if account_id in self.accounts:
                continue
            if not await self.db(self.locks.hold, account_id):
                if account_id not in self.waiting:
                    log.warning("xmpp %s: another run_xmpp holds this account; waiting for it", config.jid)
                self.waiting.add(account_id)
                continue
            self.waiting.discard(account_id)
            account = AccountRunner(self, config)
            self.accounts[account_id] = account
            account.start()

    async def _stop_accounts(self, account_ids: list[int]) -> None:
        for account_id in account_ids:
            account = self.accounts.pop(account_id, None)
            if account is not None:
                await account.stop()
            await self.db(self.locks.release, account_id)

    # --- agents typing (the event stream) -------------------------------------------------------
    def on_events(self, events: list[StreamEvent], upto: int) -> None:
        inboxes = self.inbox_ids()
        for event in events:
            if event.type == EventType.TYPING and event.data.get("agent") and event.inbox_id in inboxes:
                if event.conversation_id is not None:
                    self.keep(
                        asyncio.ensure_future(
                            self._agent_typing(event.conversation_id, bool(event.data.get("on", True)))
                        )
                    )

    def on_ephemeral(self, group: str, frame: dict[str, Any]) -> None:
        pass

    async def _agent_typing(self, conversation_id: int, on: bool) -> None:
        target = await self.db_logged(
            services.xmpp_typing_target, conversation_id=conversation_id, inbox_ids=self.inbox_ids()
        )
        if target is None:
            return
        inbox_id, address = target
        client = live.client(inbox_id)
        if client is not None:
            client.send_chat_state(address, "composing" if on else "paused")

    # --- the outbox ------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        listener = doorbell.Listener([doorbell.OUTBOX], stop=self.stop_event)
        size = max(1, settings.XMPP_SEND_THREADS)
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="xmpp-send")
        running: dict[int, Future[str]] = {}
        renew_every = settings.OUTBOX_LEASE_SECONDS / 3
        next_renew = time.monotonic() + renew_every
        poll = min(settings.BUS_POLL_SECONDS, 1.0)
        try:
            while not self.stop_event.is_set():
                for message_id in [m for m, f in running.items() if f.done()]:
                    running.pop(message_id)
                connected = live.inbox_ids()
                try:
                    if time.monotonic() >= next_renew:
                        outbox_renew_leases(list(running))
                        next_renew = time.monotonic() + renew_every
                    free = size - len(running)
                    claims = (
                        outbox_claim(limit=free, kinds={services.KIND}, inbox_ids=connected)
                        if free > 0 and connected
                        else []
                    )
                except Exception:  # noqa: BLE001 - PostgreSQL away: the outbox keeps everything
                    log.warning("xmpp: claiming the outbox failed; retrying", exc_info=True)
                    close_old_connections()
                    connection.close()
                    self.stop_event.wait(0.5)
                    continue
                for message_id, in_doubt_since in claims:
                    future = pool.submit(_send, message_id, in_doubt_since)
                    future.add_done_callback(lambda _f: self._sender_wake.set())
                    running[message_id] = future
                if claims and len(claims) == free:
                    self._sender_wake.wait(min(poll, 0.5))
                    self._sender_wake.clear()
                    continue
                if self._sender_wake.is_set():
                    self._sender_wake.clear()
                    continue
                listener.wait(poll if not running else min(poll, renew_every))
        finally:
            listener.stop()
            pool.shutdown(wait=True, cancel_futures=False)
            connection.close()


def _close_connection() -> None:
    connection.close()  # looked up in the calling thread: Django's connections are per thread


def _send(message_id: int, in_doubt_since: Any) -> str:
    close_old_connections()
    try:
        return outbox_send_claimed(message_id=message_id, in_doubt_since=in_doubt_since)
    except Exception:  # noqa: BLE001 - the lease lapses and the entry is taken up again
        log.exception("xmpp: sending message %s failed", message_id)
        return "error"
    finally:
        connection.close()


def _connection_changed(old: AccountConfig, new: AccountConfig) -> bool:
    return (old.jid, old.password, old.host, old.port, old.upload_domain, old.inbox_id) != (
        new.jid,
        new.password,
        new.host,
        new.port,
        new.upload_domain,
        new.inbox_id,
    )


def run_in_thread(stop: threading.Event, *, reload_seconds: float = 30.0) -> tuple[threading.Thread, XmppRunner]:
    """run_xmpp on a thread of this process (`make run`'s serve, the tests)."""
    runner = XmppRunner(stop=stop, reload_seconds=reload_seconds)

    def main() -> None:
        try:
            asyncio.run(runner.run())
        except Exception:  # noqa: BLE001
            log.exception("xmpp: the connections' thread ended")
        finally:
            connection.close()

    thread = threading.Thread(target=main, name="xmpp", daemon=True)
    thread.start()
    return thread, runner
