"""The agent console socket: live events, resume from an event id, and agent actions."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import transaction

from apps.accounts.models import Agent
from apps.assignment.services import presence_heartbeat, presence_set
from apps.bus.events import EventType, event_append
from apps.console import selectors
from apps.console.hub import hub
from apps.conversations.events import message_data
from apps.conversations.models import Conversation
from apps.conversations.services import conversation_mark_read, message_send
from apps.core.errors import DomainError, InvalidInput, NotFound

log = logging.getLogger(__name__)

ACTIONS = ("send", "typing", "read", "resume", "presence", "ping")
TYPING_MIN_INTERVAL = 2.0
MAX_FRAME_BYTES = 64 * 1024


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    """One agent's socket. Events come from the process's console hub (apps.console.hub), in
    log order; until the socket has caught up from the log to the hub's position it reads the
    log itself. Every frame goes through one queue and one writer, so frames leave in the order
    they were queued.

    `upto` is a position in the event log: every event at or below it that this agent may see
    has been queued to this client (or came before the position it resumed from)."""

    agent_id: int
    inbox_ids: list[int]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not self.scope.get("origin_ok"):
            await self.close(code=4403)
            return
        self.agent_id = user.pk
        self.inbox_ids = await database_sync_to_async(selectors.agent_inbox_ids)(agent_id=self.agent_id)
        self.upto = 0
        self.live = False
        self.last_sent = 0  # the newest event id written to the client (since its last resume)
        self.epoch = 0  # a resume starts a new epoch: events queued before it are dropped
        self.resumed_from = 0  # the `since` of the latest resume
        self.outbox: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.typing_sent: dict[int, float] = {}
        self.replay_lock = asyncio.Lock()
        await self.accept()
        self.writer_task = asyncio.ensure_future(self._write_loop())
        hub.add(self)  # not live yet: the catch-up below decides when
        position = await database_sync_to_async(selectors.event_position)()
        since = _int(self._query("since"))
        # hello's position is one this socket has been served to: on a resume, the events after
        # `since` are still to come (a client that stored a higher one would skip them).
        served = min(since, position) if since is not None and since >= 0 else position
        self.push({"type": "hello", "agent": self.agent_id, "last_event_id": served, "inboxes": self.inbox_ids})
        if since is not None and since >= 0:
            await self._replay(since)
        else:
            self.upto = position
            await self._catch_up()
        await self._presence_beat()
        self.beat_task = asyncio.ensure_future(self._beat_loop())

    def _query(self, name: str) -> str | None:

        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[0] if values else None

    async def disconnect(self, code: int) -> None:
        for name in ("beat_task", "writer_task"):
            task = getattr(self, name, None)
            if task:
                task.cancel()
        if hasattr(self, "live"):
            hub.remove(self)

    # --- delivery --------------------------------------------------------------------
    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the client (never blocks)."""
        self.outbox.put_nowait((self.epoch, frame))

    def push_event(self, frame: dict[str, Any]) -> None:
        """The hub's delivery: an event this socket may see, in log order."""
        if frame["id"] > self.upto:
            self.upto = frame["id"]
            self.push(frame)

    def advance(self, upto: int) -> None:
        """Every visible event up to `upto` has been queued (a position read from the log)."""
        if upto > self.upto:
            self.upto = upto

    async def _write_loop(self) -> None:
        while True:
            epoch, frame = await self.outbox.get()
            event_id = frame.get("id")
            if epoch != self.epoch and "last_event_id" in frame:
                # A heartbeat or pong queued before a resume: its position covered events the
                # resume dropped and replays; it is served to the resume's own start now.
                frame = {**frame, "last_event_id": min(frame["last_event_id"], self.resumed_from)}
            if event_id is not None:
                if epoch != self.epoch:
                    continue  # an event queued before a resume: the replay sends it again, in order
                if event_id <= self.last_sent:
                    continue
                self.last_sent = event_id
            try:
                await self.send_json(frame)
            except Exception:  # noqa: BLE001 - the socket is closing; disconnect() ends this task
                log.debug("console socket send failed", exc_info=True)

    async def _replay(self, since: int) -> None:
        """The client asked for what follows `since`: it gets it, in order, even if sent before."""
        async with self.replay_lock:
            self.live = False
            self.epoch += 1
            self.last_sent = self.resumed_from = since
            replay = await database_sync_to_async(selectors.events_after)(
                agent_id=self.agent_id, inbox_ids=self.inbox_ids, since=since, limit=settings.EVENT_REPLAY_LIMIT
            )
            if replay.gone or replay.more:
                # Too old or too long to replay: the client refetches state over REST and goes
                # on live from the current position.
                position = replay.upto if replay.gone else await database_sync_to_async(selectors.event_position)()
                self.upto = self.last_sent = position
                self.push({"type": "resync.required", "last_event_id": position})
            else:
                self.upto = since
                for frame in replay.frames:
                    self.push_event(frame)
                self.advance(replay.upto)
            await self._read_until_live()

    async def _catch_up(self) -> None:
        async with self.replay_lock:
            await self._read_until_live()

    async def _read_until_live(self) -> None:
        """Read the log from `upto` until it reaches the hub's position, then go live. The check
        and the switch happen with no await between them, and the hub only runs on this loop:
        nothing the hub hands over after the switch is below `upto`, nothing before it is lost."""
        while True:
            position = hub.position
            if position is not None and self.upto >= position:
                self.live = True
                return
            replay = await database_sync_to_async(selectors.events_after)(
                agent_id=self.agent_id,
                inbox_ids=self.inbox_ids,
                since=self.upto,
                limit=settings.EVENT_REPLAY_LIMIT,
                check_gone=False,
            )
            for frame in replay.frames:
                self.push_event(frame)
            self.advance(replay.upto)
            if position is None and not replay.frames:
                await asyncio.sleep(0.02)  # the stream is starting: it reads its position first

    async def _presence_beat(self) -> None:

        try:
            await database_sync_to_async(presence_heartbeat)(agent_id=self.agent_id)
        except Exception:  # noqa: BLE001 - presence is best effort; the socket stays up
            log.exception("presence heartbeat failed for agent %s", self.agent_id)

    async def _refresh_access(self) -> bool:
        """Follow changes made while the socket is open: a deactivated agent is disconnected,
        and joining or leaving an inbox changes which events this socket gets from now on."""
        active, inbox_ids = await database_sync_to_async(selectors.agent_access)(agent_id=self.agent_id)
        if not active:
            await self.close(code=4401)
            return False
        if inbox_ids != self.inbox_ids:
            before, self.inbox_ids = self.inbox_ids, inbox_ids
            hub.inboxes_changed(self, before)
        return True

    async def _beat_loop(self) -> None:
        interval = settings.CONSOLE_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._refresh_access():
                    return
                await self._presence_beat()
                self.push({"type": "heartbeat", "last_event_id": self.upto})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("console heartbeat failed")

    # --- client actions --------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            await self._error("invalid_frame", f"send JSON text frames of at most {MAX_FRAME_BYTES} bytes")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("invalid_json", "the frame is not valid JSON")
            return
        if not isinstance(content, dict):
            await self._error("invalid_frame", "the frame must be a JSON object")
            return
        action = content.get("action")
        if action not in ACTIONS:
            await self._error(
                "unknown_action",
                f"unknown action {action!r}; use one of {', '.join(ACTIONS)}",
                ref=content.get("client_id"),
            )
            return
        try:
            await getattr(self, f"action_{action}")(content)
        except DomainError as exc:
            await self._error(exc.code, exc.message, ref=content.get("client_id"))
        except Exception:  # noqa: BLE001 - never drop the socket over one bad action
            log.exception("console action %s failed", action)
            await self._error("server_error", "the action failed; try again", ref=content.get("client_id"))

    async def _error(self, code: str, message: str, ref: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["client_id"] = ref
        self.push(frame)

    async def _visible_conversation(self, content: dict[str, Any]) -> int:

        conversation_id = _int(content.get("conversation"))
        if conversation_id is None:
            raise InvalidInput("`conversation` (an id) is required", code="invalid_conversation")
        if not await database_sync_to_async(selectors.conversation_visible)(
            agent_id=self.agent_id, conversation_id=conversation_id
        ):
            raise NotFound("no such conversation")
        return conversation_id

    async def action_ping(self, content: dict[str, Any]) -> None:
        self.push({"type": "pong", "last_event_id": self.upto})

    async def action_resume(self, content: dict[str, Any]) -> None:

        since = _int(content.get("since"))
        if since is None or since < 0:
            raise InvalidInput("`since` must be an event id", code="invalid_since")
        await self._replay(since)

    async def action_send(self, content: dict[str, Any]) -> None:

        conversation_id = await self._visible_conversation(content)
        client_id = content.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidInput("`client_id` is required so that a resend is not sent twice", code="invalid_client_id")
        body = content.get("body")
        if not isinstance(body, str):
            raise InvalidInput("`body` must be text", code="invalid_body")
        visibility = content.get("visibility")  # Mastodon: public or private (the channel checks it)

        def send() -> tuple[dict[str, Any], bool]:

            agent = Agent.objects.get(pk=self.agent_id)
            message, created = message_send(
                conversation_id=conversation_id,
                agent=agent,
                body=body,
                client_id=client_id,
                identity_id=_int(content.get("identity")),
                kind=content.get("kind") or "message",
                options={"visibility": visibility} if isinstance(visibility, str) and visibility else None,
            )
            return message_data(message), created

        data, created = await database_sync_to_async(send)()
        self.push({"type": "ack", "client_id": client_id, "created": created, "message": data})

    async def action_typing(self, content: dict[str, Any]) -> None:

        conversation_id = await self._visible_conversation(content)
        now = time.monotonic()
        if now - self.typing_sent.get(conversation_id, 0) < TYPING_MIN_INTERVAL and content.get("on", True):
            return
        self.typing_sent[conversation_id] = now

        def log_typing() -> None:

            inbox_id = Conversation.objects.values_list("inbox_id", flat=True).get(pk=conversation_id)
            with transaction.atomic():
                event_append(
                    type=EventType.TYPING,
                    conversation_id=conversation_id,
                    inbox_id=inbox_id,
                    data={"agent": self.agent_id, "on": bool(content.get("on", True))},
                )

        await database_sync_to_async(log_typing)()

    async def action_read(self, content: dict[str, Any]) -> None:

        conversation_id = await self._visible_conversation(content)
        seq = await database_sync_to_async(conversation_mark_read)(
            agent_id=self.agent_id, conversation_id=conversation_id, seq=_int(content.get("seq"))
        )
        self.push({"type": "read.ack", "conversation": conversation_id, "seq": seq})

    async def action_presence(self, content: dict[str, Any]) -> None:

        await database_sync_to_async(presence_set)(agent_id=self.agent_id, status=str(content.get("status")))
