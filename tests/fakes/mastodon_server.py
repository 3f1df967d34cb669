"""A local Mastodon instance: the subset of the client API supportdesk uses, on 127.0.0.1.

It speaks the wire protocol of a Mastodon server (channels-next.md §4.1), reached through the
inbox's instance URL; nothing in the desk is patched.

- `GET /api/v1/accounts/verify_credentials`, `GET /api/v2/instance` (max_characters, the
  streaming URL: this server).
- `GET /api/v1/notifications?types[]=mention&min_id=&limit=`: the mentions `post_mention` added,
  the page right after `min_id`, newest first (as Mastodon pages with min_id).
- `GET /api/v1/streaming/user`: SSE. `:thump` heartbeats every `heartbeat` seconds and each
  mention posted while connected as `event: notification`; `drop_streams()` cuts every stream
  (the instance restarted), `stream_mentions = False` posts without streaming (a stream that
  silently missed them).
- `POST /api/v1/statuses` (form): honours `Idempotency-Key` (the same key answers the status it
  made, never a second one); `POST /api/v2/media` (multipart); `GET /api/v1/accounts/:id/statuses`.
- `GET /files/<name>`: media of inbound statuses (`add_file`).
- Every answer carries X-RateLimit-Limit/-Remaining/-Reset; `script(path, status, body, headers)`
  makes the next call of a path answer as scripted (429, 422, 500 …); `delays[path]` answers it
  late (after doing it), as a cut-off instance would.
- Bearer tokens are checked: an unknown one gets 401 {"error": "The access token is invalid"}.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import html
import itertools
import json
import queue
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, tuple[str, str, bytes]]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
        else:
            params.setdefault(name, []).append(payload.decode())
    return params, files


def _rendered(text: str) -> str:
    """A status's HTML as Mastodon renders it: a mention becomes a link showing only `@user`."""

    def mention(match: re.Match[str]) -> str:
        user, domain = match.group(1), match.group(2) or "desk.example"
        return (
            f'<span class="h-card"><a href="https://{domain}/@{user}" class="u-url mention">'
            f"@<span>{user}</span></a></span>"
        )

    return "<p>" + re.sub(r"(?<![\w@])@([\w.-]+)(?:@([\w.-]+))?", mention, html.escape(text)) + "</p>"


class FakeMastodon:
    def __init__(self, *, host_name: str = "desk.example") -> None:
        self.host_name = host_name
        self.lock = threading.Lock()
        self.ids = itertools.count(113000000000000100)
        self.tokens: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.statuses: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.calls: list[Call] = []
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.delays: dict[str, float] = {}
        self.streams: list[queue.Queue[str | None]] = []
        self.stream_mentions = True
        self.heartbeat = 0.2
        self.max_characters = 500
        self.ratelimit_remaining = 300
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --- set-up ------------------------------------------------------------------------
    def add_account(self, token: str, *, account_id: str = "1", username: str = "support") -> None:
        self.tokens[token] = {"id": account_id, "username": username, "acct": username, "display_name": "Support"}

    def add_file(self, name: str, content_type: str, data: bytes) -> str:
        self.files[name] = (content_type, data)
        return f"{self.base_url}/files/{name}"

    def script(self, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.scripts[path].append(Scripted(status, body, headers or {}))

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def reset(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.notifications.clear()
            self.statuses.clear()
            self.by_key.clear()
            self.media.clear()
            self.files.clear()
            self.calls.clear()
            self.scripts.clear()
            self.delays.clear()
            self.stream_mentions = True
            self.max_characters = 500
            self.ratelimit_remaining = 300
        self.drop_streams()

    def drop_streams(self) -> None:
        with self.lock:
            streams, self.streams = self.streams, []
        for stream in streams:
            stream.put(None)

    def connected_streams(self) -> int:
        with self.lock:
            return len(self.streams)

    def post_mention(
        self,
        text: str = "@support my order #123?",
        *,
        account_id: str = "109",
        acct: str = "jane@example.social",
        visibility: str = "direct",
        in_reply_to_id: str | None = None,
        media: list[dict[str, Any]] | None = None,
        status_id: str | None = None,
        display_name: str = "Jane",
    ) -> dict[str, Any]:
        """A customer's post that mentions the desk account: a `mention` notification (the shape
        of channels-next.md §6.2), streamed to connected listeners and kept for the API."""
        sid = status_id or str(next(self.ids))
        nid = str(next(self.ids))
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        username = acct.split("@", 1)[0]
        account = {
            "id": account_id,
            "username": username,
            "acct": acct,
            "display_name": display_name,
            "url": f"https://{acct.split('@', 1)[1] if '@' in acct else self.host_name}/@{username}",
        }
        status = {
            "id": sid,
            "created_at": now,
            "in_reply_to_id": in_reply_to_id,
            "visibility": visibility,
            "uri": f"https://example.social/users/{username}/statuses/{sid}",
            "url": f"https://example.social/@{username}/{sid}",
            "content": f"<p>{text}</p>",
            "spoiler_text": "",
            "account": account,
            "mentions": [{"id": "1", "username": "support", "acct": "support"}],
            "media_attachments": media or [],
        }
        notification = {
            "id": nid,
            "type": "mention",
            "created_at": now,
            "group_key": f"ungrouped-{nid}",
            "account": account,
            "status": status,
        }
        with self.lock:
            self.notifications.append(notification)
            streams = list(self.streams) if self.stream_mentions else []
        for stream in streams:
            stream.put(f"event: notification\ndata: {json.dumps(notification)}\n\n")
        return notification

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- the API -----------------------------------------------------------------------
    def _limit_headers(self) -> dict[str, str]:
        reset = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
        with self.lock:
            self.ratelimit_remaining = max(0, self.ratelimit_remaining - 1)
            left = self.ratelimit_remaining
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(left), "X-RateLimit-Reset": reset}

    def answer(self, call: Call) -> Scripted:
        if call.path.startswith("/files/"):
            item = self.files.get(call.path[len("/files/") :])
            if item is None:
                return Scripted(404, {"error": "Record not found"})
            return Scripted(200, item[1], {"Content-Type": item[0]})
        token = call.headers.get("authorization", "").removeprefix("Bearer ").strip()
        account = self.tokens.get(token)
        if account is None:
            return Scripted(401, {"error": "The access token is invalid"})
        if self.scripts.get(call.path):
            return self.scripts[call.path].popleft()
        if call.method == "GET" and call.path == "/api/v1/accounts/verify_credentials":
            return Scripted(200, account)
        if call.method == "GET" and call.path == "/api/v2/instance":
            return Scripted(
                200,
                {
                    "domain": self.host_name,
                    "configuration": {
                        "urls": {"streaming": self.base_url},
                        "statuses": {"max_characters": self.max_characters, "max_media_attachments": 4},
                    },
                },
            )
        if call.method == "GET" and call.path == "/api/v1/notifications":
            return Scripted(200, self._notifications(call.params))
        if call.method == "POST" and call.path == "/api/v1/statuses":
            return self._post_status(account, call)
        if call.method == "POST" and call.path == "/api/v2/media":
            upload = call.files.get("file")
            if upload is None:
                return Scripted(422, {"error": "Validation failed: File can't be blank"})
            media_id = str(next(self.ids))
            self.media[media_id] = {
                "id": media_id,
                "type": upload[1].split("/")[0],
                "data": upload[2],
                "name": upload[0],
            }
            return Scripted(200, {"id": media_id, "type": "image", "url": f"{self.base_url}/files/m{media_id}"})
        if call.method == "GET" and call.path.startswith("/api/v1/accounts/") and call.path.endswith("/statuses"):
            mine = [s for s in self.statuses.values() if s["account"]["id"] == call.path.split("/")[4]]
            return Scripted(200, sorted(mine, key=lambda s: int(s["id"]), reverse=True)[:40])
        return Scripted(404, {"error": "Record not found"})

    def _notifications(self, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        types = params.get("types[]") or []
        limit = min(int((params.get("limit") or ["40"])[0]), 80)
        with self.lock:
            items = [n for n in self.notifications if not types or n["type"] in types]
        items.sort(key=lambda n: int(n["id"]))
        min_id = (params.get("min_id") or [""])[0]
        if min_id:
            after = [n for n in items if int(n["id"]) > int(min_id)][:limit]
            return list(reversed(after))
        return list(reversed(items))[:limit]

    def _post_status(self, account: dict[str, Any], call: Call) -> Scripted:
        key = call.headers.get("idempotency-key", "")
        with self.lock:
            if key and key in self.by_key:
                return Scripted(200, self.statuses[self.by_key[key]])
        text = (call.params.get("status") or [""])[0]
        media_ids = call.params.get("media_ids[]") or []
        if not text and not media_ids:
            return Scripted(422, {"error": "Validation failed: Text can't be blank"})
        if len(text) > self.max_characters:
            return Scripted(
                422, {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"}
            )
        parent = (call.params.get("in_reply_to_id") or [None])[0]
        sid = str(next(self.ids))
        status = {
            "id": sid,
            "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "in_reply_to_id": parent,
            "visibility": (call.params.get("visibility") or ["public"])[0],
            "content": _rendered(text),
            "spoiler_text": "",
            "account": account,
            "media_attachments": [{"id": m, "type": "image"} for m in media_ids],
        }
        with self.lock:
            self.statuses[sid] = status
            if key:
                self.by_key[key] = sid
        return Scripted(200, status)

    # --- the server ----------------------------------------------------------------------
    def __enter__(self) -> FakeMastodon:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _read(self) -> Call:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                files: dict[str, tuple[str, str, bytes]] = {}
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("multipart/form-data"):
                    form, files = _multipart(content_type, body)
                    params.update(form)
                elif body:
                    params.update(parse_qs(body.decode(), keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                return Call(self.command, parts.path, params, headers, files)

            def _handle(self) -> None:
                call = self._read()
                with fake.lock:
                    fake.calls.append(call)
                if call.path == "/api/v1/streaming/user":
                    return self._stream(call)
                result = fake.answer(call)
                data = result.body if isinstance(result.body, bytes) else json.dumps(result.body).encode()
                delay = fake.delays.pop(call.path, 0.0)
                if delay:
                    time.sleep(delay)
                self.send_response(result.status)
                headers = {"Content-Type": "application/json; charset=utf-8", **fake._limit_headers(), **result.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, call: Call) -> None:
                token = call.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if token not in fake.tokens:
                    data = b'{"error":"The access token is invalid"}'
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                events: queue.Queue[str | None] = queue.Queue()
                with fake.lock:
                    fake.streams.append(events)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(b":)\n")
                    self.wfile.flush()
                    while True:
                        try:
                            item = events.get(timeout=fake.heartbeat)
                        except queue.Empty:
                            item = ":thump\n"
                        if item is None:
                            return
                        self.wfile.write(item.encode())
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                finally:
                    with fake.lock:
                        if events in fake.streams:
                            fake.streams.remove(events)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-mastodon")
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop_streams()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
