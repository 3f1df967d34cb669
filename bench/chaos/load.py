"""The traffic of a chaos run, on one asyncio loop: what customers, agents and consoles do.

- `InboundLoad`: Twilio's inbound webhooks, signed, unique MessageSids, at a fixed rate (open
  loop), and deliberate redeliveries of some of them (same sid, same signature) a little later.
  Like Twilio it never retries an unanswered webhook.
- `ReplyLoad`: agents' replies over the REST API with a `client_id`, at a fixed rate, to
  conversations the consoles have seen. A reply whose answer did not come (an error, a 5xx) is
  sent again with the same `client_id`, as the console does, until it is answered; some answered
  ones are sent again on purpose.
- `Console`: an agent's console socket that records every event it gets, disconnects now and
  then, and resumes with `?since=`: as README teaches (`readme`: the higher of the last position
  the server confirmed and the highest id seen), or from the position the server confirmed in
  `heartbeat`/`pong` only (`confirmed`, which pings every second).

Requests go round robin over the web processes; a refused connection goes to the next one, as
a load balancer does. Every outcome is recorded with its time (time.time()).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import websockets
from twilio.request_validator import RequestValidator

WEBHOOK_PATH = "/webhooks/twilio/messages"
STATUS_PATH = "/webhooks/twilio/status"
TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s and does not retry

Outcome = int | str  # an HTTP status, or the name of the error


async def ticks(rate: float, stop: asyncio.Event) -> AsyncIterator[int]:
    """0, 1, 2, … at `rate` a second (open loop: the n-th comes at start + n/rate, however long
    the work of the earlier ones takes, and late ones come at once), until `stop` is set."""
    if rate <= 0:
        return
    loop = asyncio.get_running_loop()
    start = loop.time()
    index = 0
    while not stop.is_set():
        delay = start + index / rate - loop.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        yield index
        index += 1


def spawn(tasks: set[asyncio.Task], coro: Any) -> None:
    """Run `coro` as a task kept in `tasks` until it is done (the loop holds tasks weakly)."""
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@dataclass
class Attempt:
    at: float
    outcome: Outcome
    web: int
    body: dict[str, Any] | None = None


class WebFront:
    """Round robin over the web processes; a refused connection tries the next one."""

    def __init__(self, urls: list[str], session: aiohttp.ClientSession) -> None:
        self.urls = urls
        self.session = session
        self.next = 0

    async def request(
        self, method: str, path: str, *, timeout: float, want_json: bool = False, **kw: Any
    ) -> tuple[Outcome, int, dict[str, Any] | None]:
        start = self.next
        self.next += 1
        outcome: Outcome = "no web process"
        for step in range(len(self.urls)):
            index = (start + step) % len(self.urls)
            try:
                async with self.session.request(
                    method, self.urls[index] + path, timeout=aiohttp.ClientTimeout(total=timeout), **kw
                ) as response:
                    body = None
                    if want_json and response.content_type == "application/json":
                        body = await response.json()
                    else:
                        await response.read()
                    return response.status, index, body
            except aiohttp.ClientConnectorError:
                outcome = "ConnectionRefused"  # nothing was sent: the next process may take it
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                return type(exc).__name__, index, None
        return outcome, start % len(self.urls), None


@dataclass
class InboundRecord:
    index: int
    sid: str
    token: str
    sender: str
    attempts: list[Attempt] = field(default_factory=list)
    redelivery: bool = False  # one delivery was a deliberate repeat

    @property
    def acked(self) -> bool:
        return any(a.outcome == 200 for a in self.attempts)

    @property
    def first_at(self) -> float:
        return self.attempts[0].at if self.attempts else 0.0


class InboundLoad:
    def __init__(
        self,
        front: WebFront,
        *,
        rate: float,
        redeliver: float,
        senders: int,
        inbox_address: str,
        account_sid: str,
        auth_token: str,
        public_base_url: str,
        rng: random.Random,
    ) -> None:
        self.front = front
        self.rate = rate
        self.redeliver = redeliver
        self.senders = [f"+1415556{n:04d}" for n in range(senders)]
        self.inbox_address = inbox_address
        self.account_sid = account_sid
        self.validator = RequestValidator(auth_token)
        self.url = public_base_url.rstrip("/") + WEBHOOK_PATH
        self.rng = rng
        self.records: list[InboundRecord] = []
        self.tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        async for index in ticks(self.rate, stop):
            record = InboundRecord(
                index=index,
                sid="SM" + f"{self.rng.getrandbits(128):032x}",
                token=f"CHAOS-I{index:06d}",
                sender=self.rng.choice(self.senders),
            )
            again = self.rng.uniform(0.2, 5.0) if self.rng.random() < self.redeliver else None
            self.records.append(record)
            spawn(self.tasks, self._deliver(record, again))

    def params(self, record: InboundRecord) -> dict[str, str]:
        return {
            "MessageSid": record.sid,
            "SmsMessageSid": record.sid,
            "SmsSid": record.sid,
            "AccountSid": self.account_sid,
            "From": record.sender,
            "To": self.inbox_address,
            "Body": f"{record.token} my parcel has not arrived",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }

    async def _deliver(self, record: InboundRecord, again: float | None) -> None:
        params = self.params(record)
        headers = {
            "X-Twilio-Signature": self.validator.compute_signature(self.url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urlencode(params)
        for delay in [0.0] if again is None else [0.0, again]:
            if delay:
                await asyncio.sleep(delay)
                record.redelivery = True
            at = time.time()
            outcome, web, _ = await self.front.request(
                "POST", WEBHOOK_PATH, timeout=TWILIO_TIMEOUT, data=body, headers=headers
            )
            record.attempts.append(Attempt(at=at, outcome=outcome, web=web))

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


@dataclass
class ReplyRecord:
    index: int
    client_id: str
    token: str
    conversation: int
    agent: int  # index into the tokens
    attempts: list[Attempt] = field(default_factory=list)
    message_id: int | None = None
    resend: Attempt | None = None  # the deliberate repeat after the answer

    @property
    def acked(self) -> bool:
        return self.message_id is not None


class ReplyLoad:
    def __init__(
        self,
        front: WebFront,
        *,
        rate: float,
        resend: float,
        tokens: list[str],
        conversations: list[int],
        rng: random.Random,
        retry_every: float = 1.0,
        give_up_after: float = 120.0,
    ) -> None:
        self.front = front
        self.rate = rate
        self.resend = resend
        self.tokens = tokens
        self.conversations = conversations  # filled by the consoles, in the order seen
        self.rng = rng
        self.retry_every = retry_every
        self.give_up_after = give_up_after
        self.records: list[ReplyRecord] = []
        self.tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        async for index in ticks(self.rate, stop):
            pick = self.rng.random()
            again = self.rng.uniform(0.1, 3.0) if self.rng.random() < self.resend else None
            if not self.conversations:
                continue  # nothing to answer yet
            record = ReplyRecord(
                index=index,
                client_id=f"chaos-r{index:06d}",
                token=f"CHAOS-R{index:06d}",
                conversation=self.conversations[int(pick * len(self.conversations))],
                agent=index % len(self.tokens),
            )
            self.records.append(record)
            spawn(self.tasks, self._send(record, again))

    async def _post(self, record: ReplyRecord) -> Attempt:
        at = time.time()
        outcome, web, body = await self.front.request(
            "POST",
            f"/api/v1/conversations/{record.conversation}/messages",
            timeout=30,
            want_json=True,
            json={"body": f"{record.token} we are on it", "client_id": record.client_id},
            headers={"Authorization": f"Token {self.tokens[record.agent]}"},
        )
        return Attempt(at=at, outcome=outcome, web=web, body=body)

    async def _send(self, record: ReplyRecord, again: float | None) -> None:
        deadline = time.time() + self.give_up_after
        while True:
            attempt = await self._post(record)
            record.attempts.append(attempt)
            if attempt.outcome in (200, 201) and attempt.body:
                record.message_id = attempt.body.get("id")
                break
            if isinstance(attempt.outcome, int) and 400 <= attempt.outcome < 500:
                return  # refused: a client error is not retried (and is reported)
            if time.time() > deadline:
                return
            await asyncio.sleep(self.retry_every)
        if again is not None:
            await asyncio.sleep(again)
            record.resend = await self._post(record)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


@dataclass
class Connection:
    url: str
    since: int | None
    opened: float
    closed: float = 0.0
    reason: str = ""
    frames: int = 0


class Console:
    """One agent's console socket, reconnecting now and then, resuming as its `mode` says."""

    MODES = ("readme", "confirmed")

    def __init__(
        self,
        name: str,
        *,
        mode: str,
        token: str,
        ws_urls: list[str],
        reconnect_every: float,
        rng: random.Random,
        on_inbound: Callable[[str, int, float], None],
        ping_every: float = 1.0,
    ) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown console mode {mode!r}")
        self.name = name
        self.mode = mode
        self.token = token
        self.ws_urls = ws_urls
        self.reconnect_every = reconnect_every
        self.rng = rng
        self.on_inbound = on_inbound
        self.ping_every = ping_every
        self.start_position: int | None = None  # the log position when it first connected
        self.end_position: int | None = None  # the position the server confirmed at the end
        self.confirmed = 0
        self.max_seen = 0
        self.received: dict[int, float] = {}  # event id -> first time it came
        self.connections: list[Connection] = []
        self.failed_connects = 0
        self.resyncs: list[tuple[int, int]] = []  # (since, position): events in between not replayed
        self.out_of_order = 0  # an event with a lower id than one this socket sent before
        self.repeated = 0  # an event id this socket had already sent
        self.errors: dict[str, int] = {}
        self.next_url = 0

    def resume_position(self) -> int | None:
        if self.start_position is None:
            return None
        if self.mode == "readme":
            return max(self.confirmed, self.max_seen)
        return self.confirmed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            hold = self.rng.uniform(0.5, 1.5) * self.reconnect_every
            try:
                await self._session(stop, hold=hold)
            except Exception:  # noqa: BLE001 - the link dropped (a web process died): reconnect
                self.failed_connects += 1
                await asyncio.sleep(0.2)

    async def final_sync(self, target: int, timeout: float = 60) -> bool:
        """Reconnect once more and stay until the server confirms a position >= target."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await self._session(None, until=target, hold=deadline - time.monotonic()):
                    return True
            except Exception:  # noqa: BLE001
                self.failed_connects += 1
                await asyncio.sleep(0.5)
        return False

    async def _session(self, stop: asyncio.Event | None, *, hold: float, until: int | None = None) -> bool:
        since = self.resume_position()
        url = self.ws_urls[self.next_url % len(self.ws_urls)]
        self.next_url += 1
        query = f"?token={self.token}" + (f"&since={since}" if since is not None else "")
        conn = Connection(url=url, since=since, opened=time.time())
        pinging = self.mode == "confirmed" or until is not None
        sent_here: set[int] = set()
        top_here = 0
        first = self.start_position is None
        async with websockets.connect(url + query, open_timeout=10, max_size=None, ping_interval=None) as ws:
            self.connections.append(conn)
            end = time.monotonic() + hold
            next_ping = time.monotonic() + (0.2 if until is not None else self.ping_every)
            try:
                while True:
                    now = time.monotonic()
                    if now >= end or (stop is not None and stop.is_set()):
                        conn.reason = "planned"
                        return False
                    wait = min(end, next_ping) - now if pinging else end - now
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, min(wait, 0.5)))
                    except TimeoutError:
                        if pinging and time.monotonic() >= next_ping:
                            await ws.send(json.dumps({"action": "ping"}))
                            next_ping = time.monotonic() + (0.2 if until is not None else self.ping_every)
                        continue
                    frame = json.loads(raw)
                    conn.frames += 1
                    kind = frame.get("type")
                    event_id = frame.get("id")
                    if isinstance(event_id, int) and kind not in ("hello", "heartbeat", "pong"):
                        at = time.time()
                        if event_id in sent_here:
                            self.repeated += 1
                        elif event_id < top_here:
                            self.out_of_order += 1
                        sent_here.add(event_id)
                        top_here = max(top_here, event_id)
                        self.received.setdefault(event_id, at)
                        self.max_seen = max(self.max_seen, event_id)
                        data = frame.get("data") or {}
                        body = data.get("body") or ""
                        if kind == "message.created" and data.get("direction") == "in" and body.startswith("CHAOS-I"):
                            self.on_inbound(body.split(" ", 1)[0], frame.get("conversation"), at)
                        continue
                    position = frame.get("last_event_id")
                    if kind == "hello":
                        if first:
                            self.start_position = self.confirmed = position
                        elif self.mode == "readme":  # README: hello's position is a confirmed one
                            self.confirmed = max(self.confirmed, position)
                    elif kind in ("heartbeat", "pong"):
                        self.confirmed = max(self.confirmed, position)
                        if until is not None and kind == "pong" and position >= until:
                            self.end_position = position
                            conn.reason = "final"
                            return True
                    elif kind == "resync.required":
                        self.resyncs.append((since or 0, position))
                        self.confirmed = position
                    elif kind == "error":
                        code = frame.get("code", "?")
                        self.errors[code] = self.errors.get(code, 0) + 1
            except websockets.ConnectionClosed as exc:
                conn.reason = f"closed by server ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
                await asyncio.sleep(0.1)
                return False
            finally:
                conn.closed = time.time()


async def visible_event_ids(front: WebFront, token: str, *, since: int, upto: int) -> tuple[list[int], bool]:
    """The ids of the events an agent may see in (since, upto], read as a client reads them:
    `GET /api/v1/events?since=` page by page (the server's own visibility rule).
    Returns (ids, complete); not complete when the server asked for a resync or did not answer."""
    ids: list[int] = []
    position = since
    while position < upto:
        outcome, _, body = await front.request(
            "GET",
            f"/api/v1/events?since={position}&limit=2000",
            timeout=60,
            want_json=True,
            headers={"Authorization": f"Token {token}"},
        )
        if outcome != 200 or body is None or body.get("resync_required"):
            return ids, False
        ids += [e["id"] for e in body["events"] if e["id"] <= upto]
        if body["last_event_id"] <= position:
            break
        position = body["last_event_id"]
        if not body.get("more") and position >= upto:
            break
    return ids, True
