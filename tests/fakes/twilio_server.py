"""A local Twilio-compatible HTTP server: the Messages API subset supportdesk uses, and media.

It speaks the wire protocol of https://api.twilio.com (protocols.md §2.1-2.2), so the real
twilio SDK talks to it through `settings.TWILIO_API_BASE_URL`; nothing in the SDK is patched.

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: form-encoded, HTTP Basic auth
  (AccountSid:AuthToken). Answers 201 with a Twilio-shaped message (sid "SM" + 32 hex, status
  "queued", or "accepted" with a Messaging Service), or the next scripted response.
- `GET /2010-04-01/Accounts/{AccountSid}/Messages/{MM…}/Media/{ME…}`: Basic auth required;
  serves bytes registered with `add_media`, or redirects to `/cdn/…` (a stand-in for
  mms.twiliocdn.com: no auth needed, reachable under another host name).
- `GET /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=&PageSize=`: the messages it
  accepted, newest first, filtered like Twilio's list (what the desk asks after a send whose
  answer was lost).
- Content API (https://content.twilio.com, WhatsApp templates; channels-next.md §3.3):
  `GET /v1/Content`, `GET /v1/ContentAndApprovals` (paged with `PageSize`/`Page`, the records under
  `meta.key` = "contents"), `GET /v1/Content/{HX…}/ApprovalRequests`; Basic auth. Templates are
  registered with `add_content`. A message created with `ContentSid` (and `ContentVariables`, a
  JSON string) gets the template's rendered text as its body, as Twilio does; `Body` or
  `MediaUrl` beside a `ContentSid`, or an unknown `ContentSid`, are refused like Twilio (21619 /
  21655).
- Every request is recorded (`requests`), with its form fields and Basic credentials; every
  message it accepted is in `messages` (sid -> the message as answered).
- Like Twilio it can post delivery-status callbacks, signed with the auth token, to the
  `StatusCallback` URL of each accepted message (`post_status_callbacks`), and it can behave
  like a slow or flaky provider: answer after a delay (`answer_delay`), or accept a message and
  lose the answer (`drop_answers`: the connection closes without a response).

Use it as a context manager or with start()/stop(); `reset()` clears state between tests.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import heapq
import itertools
import json
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2010-04-01"
MESSAGES_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
MEDIA_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<media>[^/]+)$")
CDN_RE = re.compile(r"^/cdn/(?P<token>[^/]+)$")
CONTENT_LIST_RE = re.compile(r"^/v1/(?P<what>Content|ContentAndApprovals)$")
CONTENT_APPROVAL_RE = re.compile(r"^/v1/Content/(?P<sid>HX[0-9a-fA-F]{32})/ApprovalRequests$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class RecordedRequest:
    method: str
    path: str
    host: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    auth: tuple[str, str] | None
    body: bytes

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class ScriptedResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MediaItem:
    content: bytes
    content_type: str
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    redirect: bool = False  # True: the API URL redirects to an unauthenticated CDN URL


@dataclass
class StatusCallback:
    """A status callback the server posted: `outcome` is the HTTP status, or the error's name."""

    sid: str
    status: str
    url: str
    outcome: int | str
    at: float  # time.time() when the answer (or the error) came


# Posts one signed callback: (url, form fields, X-Twilio-Signature) -> HTTP status. May raise.
CallbackPoster = Callable[[str, dict[str, str], str], int]


def post_callback(url: str, params: dict[str, str], signature: str) -> int:
    import requests

    response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)
    return response.status_code


def twilio_error(status: int, code: int, message: str) -> ScriptedResponse:
    """The legacy Twilio error body (protocols.md §2.2)."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return ScriptedResponse(status=status, body=json.dumps(body).encode())


def problem_details(status: int, code: int, title: str, detail: str = "") -> ScriptedResponse:
    """An RFC 9457 error body, which twilio >= 9.9 raises as TwilioServiceException."""
    body = {
        "type": f"https://www.twilio.com/docs/errors/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail or title,
    }
    return ScriptedResponse(status=status, body=json.dumps(body).encode(), content_type="application/problem+json")


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str, host: str = "127.0.0.1") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._callbacks_due: list[tuple[float, int, str, str, str]] = []  # (due, seq, sid, status, url)
        self._callbacks_wake = threading.Condition(self._lock)
        self._callback_thread: threading.Thread | None = None
        self._callback_pool: ThreadPoolExecutor | None = None
        self._stopping = False
        self._callback_seq = itertools.count()
        self.reset()

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self._stopping = True
            self._callbacks_wake.notify_all()
        if self._callback_thread is not None:
            self._callback_thread.join(timeout=5)
            self._callback_thread = None
        if self._callback_pool is not None:
            self._callback_pool.shutdown(wait=True, cancel_futures=True)
            self._callback_pool = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake Twilio server is not running"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self._script: deque[ScriptedResponse] = deque()
            self.messages: dict[str, dict[str, Any]] = {}
            self._media: dict[str, MediaItem] = {}
            self._cdn: dict[str, MediaItem] = {}
            self.answer_delay = 0.0
            self._drop_answers = 0
            self.dropped_answers: list[str] = []  # sids accepted whose answer was never sent
            self._callback_statuses: tuple[str, ...] = ()
            self._callback_delay = 0.0
            self._callback_poster: CallbackPoster = post_callback
            self.callbacks: list[StatusCallback] = []
            self._callbacks_due = []
            self.contents: dict[str, dict[str, Any]] = {}  # sid -> Content resource
            self.content_approvals: dict[str, str] = {}  # sid -> WhatsApp approval status

    # --- scripting -------------------------------------------------------------------
    def script(self, *responses: ScriptedResponse) -> None:
        """Answer the next Messages.json POSTs (that pass auth) with these, in order."""
        with self._lock:
            self._script.extend(responses)

    def script_error(self, status: int, code: int, message: str = "scripted error") -> None:
        self.script(twilio_error(status, code, message))

    def drop_answers(self, count: int = 1) -> None:
        """Accept the next `count` messages (they are sent, as far as the provider is concerned)
        and close the connection instead of answering: the sender cannot know they went out."""
        with self._lock:
            self._drop_answers += count

    def list_messages(self, request: RecordedRequest, account: str, query: dict[str, list[str]]) -> ScriptedResponse:
        if not self._authorized(request, account):
            return twilio_error(401, 20003, "Authenticate")
        to = (query.get("To") or [""])[0]
        sender = (query.get("From") or [""])[0]
        size = int((query.get("PageSize") or ["50"])[0])
        with self._lock:
            found = [m for m in reversed(self.messages.values()) if m["account_sid"] == account]
        if to:
            found = [m for m in found if m["to"] == to]
        if sender:
            found = [m for m in found if m["from"] == sender]
        page = {
            "messages": found[:size],
            "page": 0,
            "page_size": size,
            "first_page_uri": f"/{API_VERSION}/Accounts/{account}/Messages.json?PageSize={size}&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": f"/{API_VERSION}/Accounts/{account}/Messages.json?PageSize={size}&Page=0",
            "start": 0,
            "end": max(len(found[:size]) - 1, 0),
        }
        return ScriptedResponse(status=200, body=json.dumps(page).encode())

    def post_status_callbacks(
        self,
        statuses: Sequence[str] = ("sent", "delivered"),
        *,
        delay: float = 0.2,
        poster: CallbackPoster | None = None,
    ) -> None:
        """From now on, for each accepted message with a StatusCallback, post these statuses to it
        as Twilio does: in order, `delay` seconds apart (the first `delay` after the answer), form
        fields as in `status_callback_params`, signed with the auth token. `poster` does the POST
        (default: requests, to the URL as given); its answers are recorded in `callbacks`."""
        with self._lock:
            self._callback_statuses = tuple(statuses)
            self._callback_delay = delay
            self._callback_poster = poster or post_callback
            if self._callback_thread is None:
                self._stopping = False
                self._callback_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fake-twilio-callback")
                self._callback_thread = threading.Thread(
                    target=self._callback_loop, name="fake-twilio-callbacks", daemon=True
                )
                self._callback_thread.start()

    def add_media(
        self,
        content: bytes,
        content_type: str,
        *,
        send_length: bool = True,
        redirect: bool = False,
        account_sid: str | None = None,
    ) -> str:
        """Register a media file; returns its MediaUrl as Twilio would post it."""
        message_sid = "MM" + uuid.uuid4().hex
        media_sid = "ME" + uuid.uuid4().hex
        path = f"/{API_VERSION}/Accounts/{account_sid or self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        with self._lock:
            self._media[path] = MediaItem(content, content_type, send_length, redirect)
        return self.base_url + path

    def add_cdn_media(self, content: bytes, content_type: str) -> str:
        """Register a pre-signed media file on the CDN stand-in (host "localhost", no auth)."""
        token = uuid.uuid4().hex
        with self._lock:
            self._cdn[token] = MediaItem(content, content_type)
        return f"http://localhost:{self.port}/cdn/{token}"

    def add_content(
        self,
        friendly_name: str,
        body: str,
        *,
        variables: dict[str, str] | None = None,
        approval: str = "approved",
        language: str = "en",
        content_type: str = "twilio/text",
        category: str = "UTILITY",
    ) -> str:
        """Register a content template (as made in Twilio's Content Template Builder); returns
        its sid. `approval` is its WhatsApp approval status ("" for never submitted)."""
        sid = "HX" + uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "friendly_name": friendly_name,
            "language": language,
            "variables": variables or {},
            "types": {content_type: {"body": body}},
            "url": f"https://content.twilio.com/v1/Content/{sid}",
            "links": {"approval_fetch": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests"},
            "date_created": now,
            "date_updated": now,
        }
        with self._lock:
            self.contents[sid] = resource
            self.content_approvals[sid] = approval
        return sid

    def _approval_request(self, sid: str) -> dict[str, Any]:
        status = self.content_approvals.get(sid, "")
        resource = self.contents[sid]
        if not status:
            return {}
        return {
            "name": resource["friendly_name"].lower().replace(" ", "_"),
            "category": "UTILITY",
            "content_type": next(iter(resource["types"])),
            "status": status,
            "rejection_reason": "",
            "allow_category_change": True,
        }

    def content_list(self, request: RecordedRequest, what: str, query: dict[str, list[str]]) -> ScriptedResponse:
        if request.auth != (self.account_sid, self.auth_token):
            return twilio_error(401, 20003, "Authenticate")
        size = max(1, min(int((query.get("PageSize") or ["50"])[0]), 500))
        page = int((query.get("Page") or ["0"])[0])
        with self._lock:
            rows = [dict(c) for c in self.contents.values()]
            if what == "ContentAndApprovals":
                for row in rows:
                    row["approval_requests"] = self._approval_request(row["sid"])
                    row.pop("url", None)
                    row.pop("links", None)
        chunk = rows[page * size : (page + 1) * size]
        base = f"{self.base_url}/v1/{what}?PageSize={size}"
        more = (page + 1) * size < len(rows)
        body = {
            "contents": chunk,
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": f"{base}&Page=0",
                "previous_page_url": f"{base}&Page={page - 1}" if page > 0 else None,
                "url": f"{base}&Page={page}",
                "next_page_url": f"{base}&Page={page + 1}" if more else None,
                "key": "contents",
            },
        }
        return ScriptedResponse(status=200, body=json.dumps(body).encode())

    def content_approval(self, request: RecordedRequest, sid: str) -> ScriptedResponse:
        if request.auth != (self.account_sid, self.auth_token):
            return twilio_error(401, 20003, "Authenticate")
        with self._lock:
            if sid not in self.contents:
                return twilio_error(404, 20404, "The requested resource was not found")
            approval = self._approval_request(sid)
        body = {
            "sid": sid,
            "account_sid": self.account_sid,
            "whatsapp": {**approval, "type": "whatsapp"} if approval else {},
            "url": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests",
        }
        return ScriptedResponse(status=200, body=json.dumps(body).encode())

    def _content_body(self, request: RecordedRequest) -> tuple[str | None, ScriptedResponse | None]:
        """The rendered text of a ContentSid send, or Twilio's refusal."""
        sid = request.field("ContentSid") or ""
        if request.field("Body") or request.form.get("MediaUrl"):
            return None, twilio_error(
                400, 21619, "A text message body, media url or content sid is required, not both."
            )
        with self._lock:
            resource = self.contents.get(sid)
        if resource is None:
            return None, twilio_error(400, 21655, "The ContentSid is Invalid.")
        try:
            variables = json.loads(request.field("ContentVariables") or "{}")
        except ValueError:
            return None, twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
        if not isinstance(variables, dict):
            return None, twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
        text = next(iter(resource["types"].values())).get("body", "")
        merged = {**resource["variables"], **{str(k): str(v) for k, v in variables.items()}}
        return PLACEHOLDER_RE.sub(lambda m: merged.get(m.group(1), m.group(0)), text), None

    # --- what happened ---------------------------------------------------------------
    def message_posts(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and MESSAGES_RE.match(r.path)]

    def gets(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "GET"]

    def status_callback_params(self, sid: str, status: str, error_code: str = "") -> dict[str, str]:
        """The form fields of a status callback Twilio would post for one of our messages."""
        message = self.messages[sid]
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"] or "",
            "To": message["to"],
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    # --- request handling (called from the server threads) ---------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_scripted(self) -> ScriptedResponse | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _authorized(self, request: RecordedRequest, account: str) -> bool:
        return request.auth == (self.account_sid, self.auth_token) and account == self.account_sid

    def callbacks_pending(self) -> bool:
        """Whether status callbacks are still due to be posted."""
        with self._lock:
            return bool(self._callbacks_due)

    def _schedule_callbacks(self, sid: str, url: str) -> None:
        with self._lock:
            due = time.monotonic()
            for status in self._callback_statuses:
                due += self._callback_delay
                heapq.heappush(self._callbacks_due, (due, next(self._callback_seq), sid, status, url))
            self._callbacks_wake.notify()

    def _callback_loop(self) -> None:
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                if self._callbacks_due and self._callbacks_due[0][0] <= now:
                    _, _, sid, status, url = heapq.heappop(self._callbacks_due)
                    assert self._callback_pool is not None
                    self._callback_pool.submit(self._post_callback, sid, status, url)
                    continue
                timeout = self._callbacks_due[0][0] - now if self._callbacks_due else None
                self._callbacks_wake.wait(timeout)

    def _post_callback(self, sid: str, status: str, url: str) -> None:
        from twilio.request_validator import RequestValidator

        with self._lock:
            params = self.status_callback_params(sid, status)
            poster = self._callback_poster
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        outcome: int | str
        try:
            outcome = poster(url, params, signature)
        except Exception as exc:  # noqa: BLE001 - recorded: Twilio does not retry a failed callback
            outcome = type(exc).__name__
        with self._lock:
            self.callbacks.append(StatusCallback(sid=sid, status=status, url=url, outcome=outcome, at=time.time()))

    def _take_dropped_answer(self) -> bool:
        with self._lock:
            if self._drop_answers <= 0:
                return False
            self._drop_answers -= 1
            return True

    def _create_message(self, request: RecordedRequest, account: str) -> ScriptedResponse:
        if not self._authorized(request, account):
            return twilio_error(401, 20003, "Authenticate")
        scripted = self._next_scripted()
        if scripted is not None:
            return scripted
        to = request.field("To")
        sender = request.field("From")
        service = request.field("MessagingServiceSid")
        media = request.form.get("MediaUrl", [])
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if not request.field("Body") and not media and not request.field("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if len(media) > 10:
            return twilio_error(400, 21623, "Number of media files exceeds allowed limit.")
        body = request.field("Body") or ""
        if request.field("ContentSid"):
            rendered, refusal = self._content_body(request)
            if refusal is not None:
                return refusal
            body = rendered or ""
        sid = "SM" + uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")  # RFC 2822, GMT
        message = {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": "0" if service else "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json",
        }
        with self._lock:
            self.messages[sid] = message
        return ScriptedResponse(status=201, body=json.dumps(message).encode())

    def _media_for(self, request: RecordedRequest, account: str) -> tuple[ScriptedResponse | None, MediaItem | None]:
        if not self._authorized(request, account):
            return twilio_error(401, 20003, "Authenticate"), None
        with self._lock:
            item = self._media.get(request.path)
        if item is None:
            return twilio_error(404, 20404, "The requested resource was not found"), None
        if item.redirect:
            token = uuid.uuid4().hex
            with self._lock:
                self._cdn[token] = item
            # Another host name for the same server: the redirect leaves the API host.
            location = f"http://localhost:{self.port}/cdn/{token}"
            return ScriptedResponse(
                status=307, body=b"", content_type="text/plain", headers={"Location": location}
            ), None
        return None, item


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (killed, or gave up) is not the server's error
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeTwilio
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _read(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
                auth = (user, password)
            except (binascii.Error, UnicodeDecodeError):
                auth = None
        form: dict[str, list[str]] = {}
        if body and self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        request = RecordedRequest(
            method=self.command,
            path=urlsplit(self.path).path,
            host=self.headers.get("Host", ""),
            headers={k: v for k, v in self.headers.items()},
            form=form,
            auth=auth,
            body=body,
        )
        self.server_fake._record(request)
        return request

    def _send(self, response: ScriptedResponse) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the sender went away (gave up, or was killed) before the answer

    def _send_media(self, item: MediaItem) -> None:
        self.send_response(200)
        self.send_header("Content-Type", item.content_type)
        if item.send_length:
            self.send_header("Content-Length", str(len(item.content)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(item.content)

    def do_POST(self) -> None:  # noqa: N802
        request = self._read()
        match = MESSAGES_RE.match(request.path)
        if match is None:
            self._send(twilio_error(404, 20404, "The requested resource was not found"))
            return
        fake = self.server_fake
        response = fake._create_message(request, match["account"])
        if response.status == 201:
            sid = json.loads(response.body)["sid"]
            if fake._take_dropped_answer():
                with fake._lock:
                    fake.dropped_answers.append(sid)
                self.close_connection = True  # accepted, and the answer is lost
            else:
                if fake.answer_delay:
                    time.sleep(fake.answer_delay)  # accepted already: a sender that dies now cannot know
                self._send(response)
            callback = request.field("StatusCallback")
            if callback and fake._callback_statuses:
                fake._schedule_callbacks(sid, callback)
            return
        self._send(response)

    def do_GET(self) -> None:  # noqa: N802
        request = self._read()
        fake = self.server_fake
        if match := MESSAGES_RE.match(request.path):
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            self._send(fake.list_messages(request, match["account"], query))
            return
        if match := MEDIA_RE.match(request.path):
            error, item = fake._media_for(request, match["account"])
            if error is not None:
                self._send(error)
            else:
                assert item is not None
                self._send_media(item)
            return
        if match := CONTENT_LIST_RE.match(request.path):
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            self._send(fake.content_list(request, match["what"], query))
            return
        if match := CONTENT_APPROVAL_RE.match(request.path):
            self._send(fake.content_approval(request, match["sid"]))
            return
        if match := CDN_RE.match(request.path):
            with fake._lock:
                item = fake._cdn.get(match["token"])
            if item is None:
                self._send(ScriptedResponse(404, b"not found", "text/plain"))
            else:
                self._send_media(item)
            return
        self._send(twilio_error(404, 20404, "The requested resource was not found"))
