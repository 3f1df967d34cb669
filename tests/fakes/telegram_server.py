"""A local Telegram Bot API server: the subset supportdesk uses, on 127.0.0.1.

It speaks the wire protocol of https://api.telegram.org (protocols.md §5, channels-next.md §2),
reached through `settings.TELEGRAM_API_BASE_URL`; nothing in the desk is patched.

- `POST|GET /bot<token>/<method>` with a JSON, form or multipart body. Methods: getMe,
  sendMessage, sendPhoto, sendDocument, getFile, getUpdates, setWebhook, deleteWebhook,
  getWebhookInfo. Answers `{"ok": true, "result": …}` or `{"ok": false, "error_code": …,
  "description": …, "parameters": …}`. An unknown token gets 401 Unauthorized.
- `GET /file/bot<token>/<file_path>`: the bytes registered with `add_file` (the token may be
  percent-encoded, as python-telegram-bot sends it).
- getUpdates serves the updates queued with `push_update` from `offset` on; a call with an offset
  confirms (forgets) every update below it, as Telegram does. While a webhook is set it answers
  409 Conflict.
- `script(method, response)` makes the next call of a method answer with a scripted error
  (`error(429, "Too Many Requests: retry after 7", retry_after=7)`, …).
- `delays[method] = seconds` answers the next call of a method late (after doing it), as a slow
  or cut-off Telegram would.
- Every call is recorded (`calls`), with its parameters and uploaded files.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]
    files: dict[str, Upload] = field(default_factory=dict)
    content_type: str = ""


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]


def error(code: int, description: str, **parameters: Any) -> Scripted:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Scripted(status=code, body=body)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Upload]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = Upload(filename=filename, content_type=part.get_content_type(), data=payload)
        else:
            params[name] = payload.decode()
    return params, files


class FakeTelegram:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bots: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.sent: dict[str, list[dict[str, Any]]] = defaultdict(list)  # token -> messages sent
        self.message_ids = itertools.count(500)
        self.delays: dict[str, float] = {}  # method -> seconds to wait before answering (once)
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --- set-up ------------------------------------------------------------------------
    def add_bot(self, token: str, username: str = "desk_bot") -> str:
        bot_id = int(token.split(":", 1)[0])
        self.bots[token] = {"id": bot_id, "is_bot": True, "first_name": "Desk", "username": username}
        return token

    def add_file(self, file_id: str, file_path: str, data: bytes) -> None:
        self.files[file_id] = (file_path, data)

    def push_update(self, token: str, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates[token].append(update)

    def script(self, method: str, response: Scripted) -> None:
        self.scripts[method].append(response)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def reset(self) -> None:
        with self.lock:
            self.bots.clear()
            self.calls.clear()
            self.scripts.clear()
            self.updates.clear()
            self.webhooks.clear()
            self.files.clear()
            self.sent.clear()
            self.delays.clear()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- the API -----------------------------------------------------------------------
    def answer(self, token: str, method: str, params: dict[str, Any], files: dict[str, Upload]) -> Scripted:
        bot = self.bots.get(token)
        if bot is None:
            return error(401, "Unauthorized")
        if self.scripts.get(method):
            return self.scripts[method].popleft()
        handler = getattr(self, f"do_{method}", None)
        if handler is None:
            return error(404, "Not Found: method not found")
        return handler(token, bot, params, files)

    @staticmethod
    def ok(result: Any) -> Scripted:
        return Scripted(status=200, body={"ok": True, "result": result})

    def do_getMe(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        return self.ok(bot)

    def _message(self, token: str, bot: dict[str, Any], params: dict[str, Any], **content: Any) -> Scripted:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return error(400, "Bad Request: chat_id is empty")
        message = {
            "message_id": next(self.message_ids),
            "from": bot,
            "chat": {"id": int(chat_id), "type": "private"},
            "date": int(time.time()),
            **content,
        }
        with self.lock:
            self.sent[token].append(message)
        return self.ok(message)

    def do_sendMessage(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        text = str(params.get("text") or "")
        if not text:
            return error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return error(400, "Bad Request: message is too long")
        return self._message(token, bot, params, text=text)

    def _upload(self, token, bot, params, files, field_name: str, kind: str):  # type: ignore[no-untyped-def]
        upload = files.get(field_name)
        if upload is None:
            return error(400, f"Bad Request: there is no {field_name} in the request")
        file_id = f"{kind}-{len(self.files) + 1}"
        self.files[file_id] = (f"{kind}s/file_{len(self.files)}", upload.data)
        item = {"file_id": file_id, "file_unique_id": file_id, "file_size": len(upload.data)}
        content: dict[str, Any] = {kind: [item] if kind == "photo" else {**item, "file_name": upload.filename}}
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._message(token, bot, params, **content)

    def do_sendPhoto(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        return self._upload(token, bot, params, files, "photo", "photo")

    def do_sendDocument(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        return self._upload(token, bot, params, files, "document", "document")

    def do_getFile(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            return error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return self.ok({"file_id": file_id, "file_unique_id": file_id, "file_size": len(data), "file_path": path})

    def do_getUpdates(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        if token in self.webhooks:
            return error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        with self.lock:
            if offset:  # confirms every update below the offset
                self.updates[token] = [u for u in self.updates[token] if u["update_id"] >= offset]
            pending = list(self.updates[token][:limit])
        return self.ok(pending)

    def do_setWebhook(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        self.webhooks[token] = {
            "url": params.get("url", ""),
            "secret_token": params.get("secret_token", ""),
            "allowed_updates": allowed,
            "drop_pending_updates": params.get("drop_pending_updates"),
        }
        return self.ok(True)

    def do_deleteWebhook(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        self.webhooks.pop(token, None)
        return self.ok(True)

    def do_getWebhookInfo(self, token, bot, params, files):  # type: ignore[no-untyped-def]
        hook = self.webhooks.get(token, {})
        pending = len(self.updates[token])
        return self.ok({"url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": pending})

    # --- the server --------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if path.startswith("/file/bot"):
                    token, _, file_path = unquote(path[len("/file/bot") :]).partition("/")
                    if token not in fake.bots:
                        return self._send(401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}')
                    for stored_path, data in fake.files.values():
                        if stored_path == file_path:
                            return self._send(200, data, "application/octet-stream")
                    return self._send(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
                if not path.startswith("/bot"):
                    return self._send(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
                token, _, method = unquote(path[len("/bot") :]).partition("/")
                content_type = self.headers.get("Content-Type", "")
                params: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
                files: dict[str, Upload] = {}
                if content_type.startswith("application/json") and body:
                    params.update(json.loads(body))
                elif content_type.startswith("application/x-www-form-urlencoded"):
                    params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
                elif content_type.startswith("multipart/form-data"):
                    form, files = _multipart(content_type, body)
                    params.update(form)
                with fake.lock:
                    fake.calls.append(
                        Call(token=token, method=method, params=params, files=files, content_type=content_type)
                    )
                answer = fake.answer(token, method, params, files)
                delay = fake.delays.pop(method, 0.0)
                if delay:  # a slow answer: the client may give up after the message was taken
                    time.sleep(delay)
                self._send(answer.status, json.dumps(answer.body).encode())

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-telegram")
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
