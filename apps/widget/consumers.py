"""`WS /ws/widget/`: the visitor's socket (DESIGN.md §4; the protocol in docs/sockets.md).

A plain ASGI application, not a Channels consumer: one coroutine per socket, which reads the
client's frames; everything pushed to it comes through the process's hub (apps.widget.hub).
That is what lets one process hold ten thousand idle visitors.

Admission, before accept: the inbox key and the visitor token must match a visitor of that
inbox, who must pass `visitor_admit` (the Origin the inbox allows, identity when the inbox
requires it; the HTTP API applies the same rule); anything else is closed with 4403
(the browser sees the handshake refused). Too many connects from one address: 4429.
After accept, bad input never drops the socket: it gets an error frame.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from apps.bus.events import EventType, group_for_inbox, publish_ephemeral_async
from apps.widget.hub import Send, VisitorSocket, hub
from apps.widget.replay import event_position, replay_since
from apps.widget.services import (
    WidgetError,
    connect_rate_check,
    visitor_admit,
    visitor_conversation_ids,
    visitor_for_token,
    visitor_message_data,
    visitor_message_send,
    visitor_socket_gone,
    visitor_socket_touch,
)

log = logging.getLogger(__name__)

CLOSE_REFUSED = 4403
CLOSE_RATE_LIMITED = 4429
ACTIONS = ("send", "typing", "resume", "ping")
MAX_FRAME_CHARS = 64 * 1024
TYPING_MIN_INTERVAL = 2.0
FRAMES_PER_WINDOW = 30  # frames a socket may send per FRAME_WINDOW seconds before they are refused
FRAME_WINDOW = 10.0


@dataclass
class Admission:
    inbox: Any
    inbox_key: str
    token: str
    visitor_id: int
    public_id: str
    identity_id: int
    conversations: list[int]
    position: int


def _query(scope: dict[str, Any]) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {name: values[0] for name, values in parsed.items() if values}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


RATE_LIMITED = "rate_limited"


def socket_admit(
    *, inbox_key: str, token: str, origin: str | None, address: str, host: str | None = None
) -> Admission | str | None:
    """Who this socket is; None to refuse it, RATE_LIMITED when the address connects too often.

    One trip to the database thread per connect: the connect budget (the cache), the visitor
    with inbox and widget settings (one query), their conversation ids (one query), and the
    log position the socket starts from (one query).
    """

    try:
        connect_rate_check(address)  # WIDGET_RATE_CONNECTS, one budget with the session endpoint
    except WidgetError:
        return RATE_LIMITED
    if not inbox_key or not token:
        return None
    visitor = visitor_for_token(inbox_key=inbox_key, token=token)
    if visitor is None:
        return None
    try:
        visitor_admit(visitor, origin=origin, host=host)  # the same rule as every HTTP request
    except WidgetError:
        return None
    conversations = list(visitor_conversation_ids(visitor))
    visitor_socket_touch(visitor.pk)
    return Admission(
        inbox=visitor.inbox,
        inbox_key=inbox_key,
        token=token,
        visitor_id=visitor.pk,
        public_id=visitor.public_id,
        identity_id=visitor.identity_id,
        conversations=conversations,
        position=event_position(),
    )


async def widget_socket(scope: dict[str, Any], receive: Any, send: Send) -> None:
    """The ASGI application for one visitor socket."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query = _query(scope)
    client = scope.get("client") or ("", 0)
    try:
        admission = await database_sync_to_async(socket_admit)(
            inbox_key=query.get("inbox", ""),
            token=query.get("token", ""),
            origin=_header(scope, b"origin"),
            address=client[0] or "unknown",
            host=_header(scope, b"host"),
        )
    except Exception:  # noqa: BLE001 - the database is away: refuse, the client retries
        log.exception("widget socket admission failed")
        await send({"type": "websocket.close", "code": 1011})
        return
    if admission is None or admission == RATE_LIMITED:
        code = CLOSE_REFUSED if admission is None else CLOSE_RATE_LIMITED
        await send({"type": "websocket.close", "code": code})
        return
    assert isinstance(admission, Admission)

    hub.ensure_running()
    sock = VisitorSocket(
        send=send,
        inbox_id=admission.inbox.pk,
        inbox_key=admission.inbox_key,
        token=admission.token,
        visitor_id=admission.visitor_id,
        public_id=admission.public_id,
        identity_id=admission.identity_id,
        conversations=admission.conversations,
    )
    sock.position = admission.position
    try:
        online = await hub.inbox_online(admission.inbox)
        await send({"type": "websocket.accept"})
        since = _int(query.get("since"))
        # On a resume the events after `since` are still to come: hello does not claim them.
        served = min(since, sock.position) if since is not None and since >= 0 else sock.position
        await sock.send_json({"type": "hello", "visitor": admission.public_id, "last_event": served, "online": online})
        # Registered after the hello, which comes first. What committed after the position was
        # read and before now is read by the hub's catch-up, which `add` brings forward and
        # moves back to this position.
        hub.add(sock)
        if since is not None and since >= 0:
            await _replay(sock, since)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] == "websocket.receive":
                await _receive(sock, message.get("text"), message.get("bytes"))
    finally:
        hub.remove(sock)
        if sock.identity_id not in hub.by_identity:  # their last socket on this process
            await database_sync_to_async(_gone)(sock.visitor_id)


def _gone(visitor_id: int) -> None:

    visitor_socket_gone(visitor_id)


# --- replay --------------------------------------------------------------------------------


async def _replay(sock: VisitorSocket, since: int) -> None:
    """The client asked for what follows `since`: it gets it, in order, even if sent before."""

    if sock.replaying:
        return await _error(sock, "bad_action", "a resume is already running")
    sock.replaying = True
    try:
        conversations = await database_sync_to_async(_conversation_ids)(sock)
        hub.follow(sock, conversations)
        replay = await database_sync_to_async(replay_since)(
            conversation_ids=sock.conversations, since=since, limit=settings.EVENT_REPLAY_LIMIT
        )
        if replay.gone:
            sock.position, sock.sent = replay.upto, None
            await sock.send_json({"type": "resync.required", "last_event": replay.upto})
            return
        sock.position = since
        sock.sent = {i for i in sock.sent if i > since} if sock.sent else None
        delivered = []
        for frame in replay.frames:
            if sock.sent is not None:
                sock.sent.discard(frame["id"])
            if sock.take(frame) and await sock.send_json(frame):
                delivered.append(frame)
        sock.advance(replay.upto)
        hub.mark_seen([(sock, frame) for frame in delivered])
    finally:
        sock.replaying = False


def _conversation_ids(sock: VisitorSocket) -> list[int]:

    visitor = visitor_for_token(inbox_key=sock.inbox_key, token=sock.token)
    return list(visitor_conversation_ids(visitor)) if visitor is not None else []


# --- client frames -------------------------------------------------------------------------


async def _error(sock: VisitorSocket, code: str, message: str, client_id: Any = None) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if isinstance(client_id, str):
        frame["client_id"] = client_id
    await sock.send_json(frame)


def _over_frame_budget(sock: VisitorSocket) -> bool:
    now = time.monotonic()
    if now - sock.window_start > FRAME_WINDOW:
        sock.window_start, sock.window_count = now, 0
    sock.window_count += 1
    return sock.window_count > FRAMES_PER_WINDOW


async def _receive(sock: VisitorSocket, text: str | None, data: bytes | None) -> None:
    if text is None:
        return await _error(sock, "bad_json", "send JSON in text frames")
    if len(text) > MAX_FRAME_CHARS:
        return await _error(sock, "too_long", f"a frame is at most {MAX_FRAME_CHARS} characters")
    try:
        content = json.loads(text)
    except ValueError:
        return await _error(sock, "bad_json", "the frame is not valid JSON")
    if not isinstance(content, dict):
        return await _error(sock, "bad_json", "the frame must be a JSON object")
    client_id = content.get("client_id")
    if _over_frame_budget(sock):
        return await _error(sock, "rate_limited", "too many frames; slow down", client_id)
    action = content.get("action")
    if action not in ACTIONS:
        return await _error(
            sock, "bad_action", f"unknown action {action!r}; use one of {', '.join(ACTIONS)}", client_id
        )
    try:
        if action == "send":
            await _send(sock, content)
        elif action == "typing":
            await _typing(sock, content)
        elif action == "resume":
            since = _int(content.get("since"))
            if since is None or since < 0:
                return await _error(sock, "bad_action", "`since` must be an event id (0 or more)")
            await _replay(sock, since)
        else:
            await sock.send_json({"type": "pong", "last_event": sock.position})
    except Exception:  # noqa: BLE001 - never drop the socket over one frame
        log.exception("widget socket action %s failed", action)
        await _error(sock, "server_error", "that failed on our side; try again", client_id)


async def _send(sock: VisitorSocket, content: dict[str, Any]) -> None:

    client_id, text = content.get("client_id"), content.get("text")
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 64:
        return await _error(
            sock, "bad_action", "`client_id` (1-64 characters) is required so that a resend is stored once"
        )
    if not isinstance(text, str):
        return await _error(sock, "bad_action", "`text` must be a string", client_id)
    try:
        data = await database_sync_to_async(_store)(sock, client_id, text)
    except WidgetError as exc:
        return await _error(sock, exc.code, exc.message, client_id)
    if data is None:
        return await _error(sock, "bad_action", "this visitor session has ended; start a new one", client_id)
    hub.follow(sock, [data["conversation"]])
    await sock.send_json({"type": "ack", "client_id": client_id, "message": data})


def _store(sock: VisitorSocket, client_id: str, text: str) -> dict[str, Any] | None:
    """Durable before the ack: the service commits the message, then we answer."""

    visitor = visitor_for_token(inbox_key=sock.inbox_key, token=sock.token)
    if visitor is None:
        return None
    message, _created = visitor_message_send(visitor=visitor, client_id=client_id, text=text)
    return visitor_message_data(message)


async def _typing(sock: VisitorSocket, content: dict[str, Any]) -> None:
    """The visitor is typing: an ephemeral frame to the agents of the inbox (never logged)."""

    active = content.get("active")
    if not isinstance(active, bool):
        return await _error(sock, "bad_action", "`active` must be true or false")
    if not sock.conversations:
        return  # nothing written yet: no agent has a conversation to show it in
    now = time.monotonic()
    if active and now - sock.typing_at < TYPING_MIN_INTERVAL:
        return
    sock.typing_at = now if active else 0.0

    conversation_id = max(sock.conversations)
    await publish_ephemeral_async(
        group_for_inbox(sock.inbox_id),
        {
            "type": EventType.TYPING,
            "conversation": conversation_id,
            "data": {"visitor": sock.public_id, "on": active, "active": active},
        },
    )
