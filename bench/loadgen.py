"""The load generator: signed Twilio webhooks out, console WebSocket frames in.

Runs in its own process (started by bench/run.py), on one asyncio loop (uvloop when present):

- K console clients connect to /ws/console/?token=… spread over the web processes and record,
  for every message whose Body carries a bench token, when the first of them received the
  message.created frame (and how many of them did).
- The sender posts correctly signed webhooks (unique MessageSid, a pool of sender numbers)
  round-robin over the web processes, in one of two modes:
    rate    open loop: message i is due at start + i/rate and is sent then, whether or not
            earlier ones were answered; latencies are measured from the due time, so a
            stalled server or sender cannot hide its queueing (no coordinated omission).
    window  closed loop on delivery: at most W messages are in flight (sent and not yet seen by
            any console); the next one goes as soon as one arrives. This runs the whole pipeline
            at the rate it can sustain, without an ever-growing backlog, and that rate is
            what "sustained msg/s" means here.

Usage: loadgen.py CONFIG.json OUT.json. Progress goes to stderr; one JSON line per phase
boundary goes to stdout ({"event": "phase_start"|"phase_end"|"ready", ...}) so the parent can
sample server CPU per phase. Every timestamp is time.monotonic() of this process.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import websockets
from twilio.request_validator import RequestValidator

TOKEN_RE = re.compile(r"BNCH(\d+)x(\d+)Z")
WEBHOOK_PATH = "/webhooks/twilio/messages"
STATUS_PATH = "/webhooks/twilio/status"
BASELINE_PATH = "/bench/baseline"


def log(msg: str) -> None:
    print(f"[loadgen {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    def ms(x: float | None) -> float | None:
        return None if x is None else round(x * 1000.0, 2)

    return {
        "n": len(values),
        "p50": ms(percentile(values, 50)),
        "p90": ms(percentile(values, 90)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values) if values else None),
        "mean": ms(sum(values) / len(values) if values else None),
    }


@dataclass
class Phase:
    index: int
    name: str
    target: str  # "pipeline" | "baseline" | "telegram"
    mode: str  # "rate" | "window"
    duration: float
    rate: float = 0.0
    window: int = 0
    # Twilio status callbacks per second posted beside the messages (pipeline only): their own
    # acks are timed; they refer to replies the desk never sent, so they wait as receipts.
    status_rate: float = 0.0
    status_acks: list[float] = field(default_factory=list)
    status_errors: dict[str, int] = field(default_factory=dict)
    due: dict[int, float] = field(default_factory=dict)
    started: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_recv: dict[int, float] = field(default_factory=dict)
    recv_count: dict[int, int] = field(default_factory=dict)
    waiters: dict[int, asyncio.Future] = field(default_factory=dict)
    t_start: float = 0.0
    t_send_end: float = 0.0
    t_end: float = 0.0


class Bench:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.http_urls: list[str] = config["http_urls"]
        self.ws_urls: list[str] = config["ws_urls"]
        self.validator = RequestValidator(config["auth_token"])
        self.public_base_url: str = config["public_base_url"].rstrip("/")
        self.inbox_address: str = config["inbox_address"]
        self.inbox_id: int = config["inbox_id"]
        self.senders = [f"+1415555{n:04d}" for n in range(int(config.get("senders", 500)))]
        self.account_sid = "AC" + "b" * 32
        self.phases: dict[int, Phase] = {}
        self.current: Phase | None = None
        self.frames = 0
        self.frame_bytes = 0
        self.odd_frames: dict[str, int] = {}
        self.ws_closed = 0
        self.rr = 0
        self.session: aiohttp.ClientSession | None = None
        self.update_id = int(time.time()) * 1000  # fresh ids each run: the journal dedupes on them

    # --- consoles ---------------------------------------------------------------------
    async def console(self, index: int, url: str, ready: asyncio.Event, counter: list[int]) -> None:
        compression = "deflate" if self.config.get("ws_deflate", True) else None
        async with websockets.connect(
            url, max_size=None, compression=compression, open_timeout=30, ping_interval=None
        ) as ws:
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise RuntimeError(f"console {index}: expected hello, got {hello}")
            counter[0] += 1
            if counter[0] == len(self.config["tokens"]):
                ready.set()
            try:
                async for frame in ws:
                    now = time.monotonic()
                    self.frames += 1
                    self.frame_bytes += len(frame)
                    text = frame if isinstance(frame, str) else frame.decode()
                    matched = False
                    for match in TOKEN_RE.finditer(text):
                        matched = True
                        phase = self.phases.get(int(match.group(1)))
                        if phase is None:
                            continue
                        seq = int(match.group(2))
                        count = phase.recv_count.get(seq, 0)
                        phase.recv_count[seq] = count + 1
                        if count == 0:
                            phase.first_recv[seq] = now
                            waiter = phase.waiters.pop(seq, None)
                            if waiter is not None and not waiter.done():
                                waiter.set_result(now)
                    if not matched and ('"resync.required"' in text or '"error"' in text):
                        kind = "resync.required" if "resync.required" in text else "error"
                        self.odd_frames[kind] = self.odd_frames.get(kind, 0) + 1
            except websockets.ConnectionClosed:
                pass
        self.ws_closed += 1

    # --- sender -----------------------------------------------------------------------
    def telegram_request(self, phase: Phase, seq: int) -> tuple[str, bytes, dict[str, str]]:
        """A Telegram update (a text message from one of the senders' chats) to the bot's webhook."""
        telegram = self.config["telegram"]
        self.update_id += 1
        chat_id = 700000000 + (seq * 7919 + phase.index) % len(self.senders)
        person = {"id": chat_id, "is_bot": False, "first_name": "Bench", "last_name": str(chat_id)}
        update = {
            "update_id": self.update_id,
            "message": {
                "message_id": seq + 1,
                "from": person,
                "chat": {**person, "type": "private"},
                "date": int(time.time()),
                "text": f"bench BNCH{phase.index}x{seq}Z hello from the load generator",
            },
        }
        base = self.http_urls[self.rr % len(self.http_urls)]
        self.rr += 1
        headers = {"X-Telegram-Bot-Api-Secret-Token": telegram["secret"], "Content-Type": "application/json"}
        return f"{base}/webhooks/telegram/{telegram['key']}", json.dumps(update).encode(), headers

    def request(self, phase: Phase, seq: int) -> tuple[str, bytes, dict[str, str]]:
        if phase.target == "telegram":
            return self.telegram_request(phase, seq)
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": self.senders[(seq * 7919 + phase.index) % len(self.senders)],
            "To": self.inbox_address,
            "Body": f"bench BNCH{phase.index}x{seq}Z hello from the load generator",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        base = self.http_urls[self.rr % len(self.http_urls)]
        self.rr += 1
        if phase.target == "baseline":
            path = f"{BASELINE_PATH}?inbox={self.inbox_id}"
        else:
            path = WEBHOOK_PATH
        signature = self.validator.compute_signature(self.public_base_url + path, params)
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        return base + path, urlencode(params).encode(), headers

    async def send(self, phase: Phase, seq: int) -> bool:
        assert self.session is not None
        url, body, headers = self.request(phase, seq)
        phase.started[seq] = time.monotonic()
        try:
            async with self.session.post(url, data=body, headers=headers) as response:
                await response.read()
                phase.status[seq] = response.status
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            key = type(exc).__name__
            phase.errors[key] = phase.errors.get(key, 0) + 1
            return False
        phase.acked[seq] = time.monotonic()
        if response.status != 200:
            key = f"http {response.status}"
            phase.errors[key] = phase.errors.get(key, 0) + 1
            return False
        return True

    async def send_status(self, phase: Phase, seq: int, due: float) -> None:
        assert self.session is not None
        sid = "SM" + uuid.uuid4().hex
        status = ("sent", "delivered")[seq % 2]
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": self.inbox_address,
            "To": self.senders[seq % len(self.senders)],
            "ApiVersion": "2010-04-01",
        }
        base = self.http_urls[seq % len(self.http_urls)]
        signature = self.validator.compute_signature(self.public_base_url + STATUS_PATH, params)
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with self.session.post(base + STATUS_PATH, data=urlencode(params).encode(), headers=headers) as r:
                await r.read()
                code = r.status
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            phase.status_errors[type(exc).__name__] = phase.status_errors.get(type(exc).__name__, 0) + 1
            return
        if code not in (200, 204):
            phase.status_errors[f"http {code}"] = phase.status_errors.get(f"http {code}", 0) + 1
            return
        phase.status_acks.append(time.monotonic() - due)

    async def run_status(self, phase: Phase, start: float) -> None:
        total = int(round(phase.status_rate * phase.duration))
        interval = 1.0 / phase.status_rate
        tasks: set[asyncio.Task] = set()
        for seq in range(total):
            due = start + seq * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(self.send_status(phase, seq, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=60)

    async def run_rate(self, phase: Phase) -> None:
        total = int(round(phase.rate * phase.duration))
        interval = 1.0 / phase.rate
        tasks: set[asyncio.Task] = set()
        start = time.monotonic() + 0.05
        phase.t_start = start
        callbacks = asyncio.ensure_future(self.run_status(phase, start)) if phase.status_rate else None
        for seq in range(total):
            due = start + seq * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            phase.due[seq] = due
            task = asyncio.ensure_future(self.send(phase, seq))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        phase.t_send_end = time.monotonic()
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        if callbacks is not None:
            await callbacks

    async def run_window(self, phase: Phase) -> None:
        slots = asyncio.Semaphore(phase.window)
        timeout = float(self.config.get("delivery_timeout", 30))
        tasks: set[asyncio.Task] = set()
        loop = asyncio.get_running_loop()

        async def one(seq: int) -> None:
            try:
                waiter = loop.create_future()
                phase.waiters[seq] = waiter
                if await self.send(phase, seq) and seq not in phase.first_recv:
                    try:
                        await asyncio.wait_for(waiter, timeout)
                    except TimeoutError:
                        pass
            finally:
                phase.waiters.pop(seq, None)
                slots.release()

        phase.t_start = time.monotonic()
        stop_at = phase.t_start + phase.duration
        seq = 0
        while True:
            await slots.acquire()
            now = time.monotonic()
            if now >= stop_at:
                slots.release()
                break
            phase.due[seq] = now
            task = asyncio.ensure_future(one(seq))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            seq += 1
        phase.t_send_end = time.monotonic()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 30)

    async def drain(self, phase: Phase, stall: float) -> None:
        """Wait until every acknowledged message reached a console, or progress stops."""
        timeout = float(self.config.get("drain_timeout", 60))
        deadline = time.monotonic() + timeout
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            ok = sum(1 for s in phase.status.values() if s == 200)
            got = len(phase.first_recv)
            if got >= ok:
                break
            if got != last_count:
                last_count, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > stall:
                log(f"{phase.name}: no delivery for {stall:.0f} s; {ok - got} message(s) missing")
                break
            await asyncio.sleep(0.05)
        # Then let every console get its copy (the others may lag behind the first), briefly:
        # a copy still missing after that was dropped by the channel layer (at-most-once) and
        # would come back only with the console's next heartbeat catch-up.
        consoles = len(self.config["tokens"])
        grace = time.monotonic() + float(self.config.get("fanout_grace", 3.0))
        while time.monotonic() < grace:
            if all(phase.recv_count.get(s, 0) >= consoles for s in phase.first_recv):
                break
            await asyncio.sleep(0.05)

    # --- phases -----------------------------------------------------------------------
    async def run_phase(self, spec: dict[str, Any], index: int) -> dict[str, Any]:
        phase = Phase(
            index=index,
            name=spec["name"],
            target=spec["target"],
            mode=spec["mode"],
            duration=float(spec["duration"]),
            rate=float(spec.get("rate", 0)),
            window=int(spec.get("window", 0)),
            status_rate=float(spec.get("status_rate", 0)),
        )
        self.phases[index] = phase
        frames0, bytes0 = self.frames, self.frame_bytes
        emit("phase_start", name=phase.name)
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        what = f"{phase.rate:g} msg/s" if phase.mode == "rate" else f"window {phase.window}"
        log(f"{phase.name}: {phase.target}, {phase.mode} ({what}) for {phase.duration:g} s")
        if phase.mode == "rate":
            await self.run_rate(phase)
        else:
            await self.run_window(phase)
        await self.drain(phase, float(spec.get("drain_stall") or self.config.get("drain_stall", 15)))
        phase.t_end = time.monotonic()
        cpu1 = cpu_seconds()
        emit("phase_end", name=phase.name)
        result = self.phase_result(phase)
        result["loadgen_cpu_cores"] = round((cpu1 - cpu0) / max(1e-9, phase.t_end - wall0), 3)
        result["console_frames"] = self.frames - frames0
        result["console_frame_bytes"] = self.frame_bytes - bytes0
        log(
            f"{phase.name}: sent {result['sent']}, acked {result['acked_ok']}, delivered {result['delivered']}, "
            f"delivered/s {result['delivered_per_s']}, ack p50/p99 {result['ack_ms']['p50']}/{result['ack_ms']['p99']} ms, "
            f"e2e p50/p99 {result['e2e_ms']['p50']}/{result['e2e_ms']['p99']} ms"
        )
        return result

    def phase_result(self, phase: Phase) -> dict[str, Any]:
        ok = [s for s, code in phase.status.items() if code == 200]
        ack_lat = [phase.acked[s] - phase.due[s] for s in ok]
        e2e = [phase.first_recv[s] - phase.due[s] for s in ok if s in phase.first_recv]
        lag = [phase.started[s] - phase.due[s] for s in phase.started]
        fanout = [phase.recv_count[s] for s in phase.first_recv]
        result: dict[str, Any] = {
            "name": phase.name,
            "target": phase.target,
            "mode": phase.mode,
            "duration_s": phase.duration,
            "rate": phase.rate or None,
            "window": phase.window or None,
            "sent": len(phase.due),
            "acked_ok": len(ok),
            "errors": phase.errors,
            "delivered": len([s for s in ok if s in phase.first_recv]),
            "undelivered": len([s for s in ok if s not in phase.first_recv]),
            "mean_consoles_per_message": round(sum(fanout) / len(fanout), 3) if fanout else None,
            "messages_missing_a_console": sum(1 for n in fanout if n < len(self.config["tokens"])),
            "ack_ms": summary_ms(ack_lat),
            "e2e_ms": summary_ms(e2e),
            "send_lag_ms": summary_ms(lag),
        }
        if phase.status_rate:
            result["status_rate"] = phase.status_rate
            result["status_ack_ms"] = summary_ms(phase.status_acks)
            result["status_errors"] = phase.status_errors
        if phase.mode == "rate":
            first = phase.t_start
            last_ack = max((phase.acked[s] for s in ok), default=first)
            last_recv = max(phase.first_recv.values(), default=first)
            span_send = max(1e-9, phase.t_send_end - first)
            result["offered_per_s"] = round(len(phase.due) / span_send, 1)
            result["acked_per_s"] = round(len(ok) / max(1e-9, last_ack - first), 1)
            result["delivered_per_s"] = round(result["delivered"] / max(1e-9, last_recv - first), 1)
            result["backlog_after_send"] = len([s for s in ok if phase.first_recv.get(s, 1e18) > phase.t_send_end])
        else:
            # Steady state: leave out the first seconds (pools and caches warming, window filling).
            warm = min(float(self.config.get("max_warmup", 3.0)), phase.duration * 0.25)
            lo, hi = phase.t_start + warm, phase.t_send_end
            span = max(1e-9, hi - lo)
            result["steady_window_s"] = round(span, 2)
            result["acked_per_s"] = round(sum(1 for s in ok if lo <= phase.acked[s] < hi) / span, 1)
            result["delivered_per_s"] = round(sum(1 for t in phase.first_recv.values() if lo <= t < hi) / span, 1)
            result["offered_per_s"] = round(sum(1 for t in phase.due.values() if lo <= t < hi) / span, 1)
            # The same figure per second, to show it was steady.
            per_second: dict[int, int] = {}
            for t in phase.first_recv.values():
                if lo <= t < hi:
                    per_second[int(t - lo)] = per_second.get(int(t - lo), 0) + 1
            seconds = [per_second.get(i, 0) for i in range(int(span))]
            result["delivered_per_second_series"] = seconds
        return result

    async def main(self) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=int(self.config.get("http_connections", 512)), force_close=False)
        timeout = aiohttp.ClientTimeout(total=float(self.config.get("http_timeout", 30)))
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        ready = asyncio.Event()
        counter = [0]
        consoles = [
            asyncio.ensure_future(
                self.console(i, f"{self.ws_urls[i % len(self.ws_urls)]}?token={token}", ready, counter)
            )
            for i, token in enumerate(self.config["tokens"])
        ]
        try:
            done_early = asyncio.ensure_future(asyncio.wait(consoles, return_when=asyncio.FIRST_EXCEPTION))
            await asyncio.wait(
                [asyncio.ensure_future(ready.wait()), done_early], timeout=60, return_when=asyncio.FIRST_COMPLETED
            )
            if not ready.is_set():
                for task in consoles:
                    if task.done() and task.exception():
                        raise RuntimeError(f"a console client failed: {task.exception()!r}")
                raise RuntimeError("console clients did not all connect within 60 s")
            log(f"{len(consoles)} console client(s) connected over {len(self.ws_urls)} web process(es)")
            emit("ready")
            results = []
            for index, spec in enumerate(self.config["phases"], start=1):
                results.append(await self.run_phase(spec, index))
                if any(task.done() for task in consoles):
                    raise RuntimeError("a console client disconnected during the run")
                await asyncio.sleep(float(self.config.get("pause", 1.0)))
            return {"phases": results, "odd_frames": self.odd_frames}
        finally:
            for task in consoles:
                task.cancel()
            await asyncio.gather(*consoles, return_exceptions=True)
            await self.session.close()


def main() -> None:
    config_path, out_path = sys.argv[1], sys.argv[2]
    with open(config_path) as fh:
        config = json.load(fh)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    result = asyncio.run(Bench(config).main())
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
