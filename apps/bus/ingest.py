"""Lean webhooks: a provider's POST journalled and answered without Django's request handler.

A webhook that only verifies, journals and answers (Twilio's messages and status callbacks) is
registered here by its gateway (`registry.register_webhook(url_name, handle)`): `handle` is the
one implementation, a plain function of a `WebhookRequest` that returns a `WebhookAnswer`. The
gateway's Django view calls it too (`answer_django`), so the test client and WSGI serve the
same webhook; under ASGI, `WebhookFront` (mounted before Django in supportdesk/asgi.py) serves
the registered URLs itself:

- the body is read up to DATA_UPLOAD_MAX_MEMORY_SIZE and parsed with Django's QueryDict;
- `handle` runs on a small thread pool (the ORM is synchronous), between `request_started` and
  `request_finished`, as Django runs a request (the pooled connection goes back after it);
- the answer gets the headers the middleware would add (X-Request-ID, the security headers,
  Content-Length) and is observed in the request histogram under its route pattern.
- an exception from `handle` is handed to Django with the request (scope key FAILED): the view
  raises it again, so Django answers and logs it as it always did (its 500 page, the
  middleware's headers and histogram), without running the webhook twice.

What is not a plain, bounded, form-encoded POST from an allowed host goes to Django unchanged
(the body already read is handed on): the view answers it as before (405, 400, multipart …).
Nothing here knows a provider: the bus is the floor, the gateway registers with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.request import split_domain_port, validate_host
from django.urls import NoReverseMatch, get_script_prefix, resolve, reverse
from django.utils.encoding import escape_uri_path, iri_to_uri

from apps.bus import registry
from apps.core.logs import log_context, request_id_from
from apps.core.metrics import http_request_observe

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORM = "application/x-www-form-urlencoded"
FAILED = "supportdesk.webhook_exception"  # scope key: what `handle` raised, for Django to answer
THREADS = 8  # at most this many webhooks in their INSERT per web process


@dataclass(frozen=True)
class WebhookRequest:
    """What a lean webhook reads of its request: Django's or the raw ASGI one, parsed alike."""

    path: str  # request.path: for log lines
    full_path: str  # request.get_full_path(): what a provider signs, after PUBLIC_BASE_URL
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    form: QueryDict  # request.POST
    query: QueryDict  # request.GET
    remote_addr: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @classmethod
    def from_django(cls, request: HttpRequest) -> WebhookRequest:
        body = request.body  # before request.POST consumes the stream
        return cls(
            path=request.path,
            full_path=request.get_full_path(),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            form=request.POST,
            query=request.GET,
            remote_addr=request.META.get("REMOTE_ADDR", ""),
        )


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: bytes
    content_type: str


Handle = Callable[[WebhookRequest], WebhookAnswer]


def answer_django(handle: Handle, request: HttpRequest) -> HttpResponse:
    """A Django view's answer: the same function, through Django's request and response.

    A request the front handed over because `handle` raised on it raises that again, so that
    Django answers and logs it as its own (500 page, middleware, log line), without a retry."""
    failed = getattr(request, "scope", {}).get(FAILED)
    if failed is not None:
        raise failed
    answer = handle(WebhookRequest.from_django(request))
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)


# --- the ASGI front ----------------------------------------------------------------------------

_executor: ThreadPoolExecutor | None = None


def threads() -> int:
    """THREADS, or half of DATABASE_POOL_MAX when that is less: each thread holds a pooled
    connection while its webhook runs, and the rest of the process needs some too."""
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict) and pool.get("max_size"):
        return max(2, min(THREADS, int(pool["max_size"]) // 2))
    return THREADS


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="webhook")
    return _executor


def _headers(scope: Scope) -> dict[str, str]:
    """As Django's ASGIRequest reads them: latin-1, a repeated header joined with commas."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin1").lower()
        value = raw_value.decode("latin1")
        found[name] = f"{found[name]},{value}" if name in found else value
    return found


def _is_secure(scope: Scope, headers: Mapping[str, str]) -> bool:
    """HttpRequest.is_secure(), from the scope."""
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        meta_name, secure_value = proxy
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower()
        if meta_name.startswith("HTTP_") and name in headers:
            return headers[name].split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "https"


def _host_allowed(headers: Mapping[str, str]) -> bool:
    """HttpRequest.get_host() would not raise DisallowedHost (without a Host header: Django decides)."""
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    elif "host" in headers:
        host = headers["host"]
    else:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _plain_form(headers: Mapping[str, str]) -> bool:
    """A form-encoded body in UTF-8 (Django's default charset) whose declared size is allowed."""
    mime, _, params = headers.get("content-type", "").partition(";")
    if mime.strip().lower() != FORM:
        return False
    charset = params.strip().lower().replace(" ", "")
    if charset and charset not in ("charset=utf-8", 'charset="utf-8"'):
        return False
    if settings.DEFAULT_CHARSET.lower().replace("_", "-") != "utf-8":
        return False
    length = headers.get("content-length", "")
    if not length.isdigit():
        return False  # chunked: Django reads it
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit is None or int(length) <= limit


def response_headers(*, secure: bool) -> list[tuple[bytes, bytes]]:
    """The headers the middleware of settings.MIDDLEWARE adds to a webhook's answer
    (SecurityMiddleware, XFrameOptionsMiddleware); tests compare them with Django's."""
    headers: list[tuple[bytes, bytes]] = []
    if settings.SECURE_HSTS_SECONDS and secure:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append((b"strict-transport-security", value.encode()))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else list(policy)
        headers.append((b"referrer-policy", ",".join(values).encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    headers.append((b"x-frame-options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper().encode()))
    return headers


class WebhookFront:
    """ASGI: the registered webhooks' plain POSTs served here, everything else by `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, tuple[Handle, str]] | None = None

    def routes(self) -> dict[str, tuple[Handle, str]]:
        """{path: (handle, route pattern)} of the registered webhooks, from the URLconf."""
        if self._routes is None:
            routes = {}
            prefix = get_script_prefix()
            for webhook in registry.webhooks():
                try:
                    path = "/" + reverse(webhook.url_name).removeprefix(prefix)
                except NoReverseMatch:
                    continue  # not in this URLconf: not served at all
                match = resolve(path)
                routes[path] = (webhook.handle, match.route or match.view_name)
            self._routes = routes
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        script_name = settings.FORCE_SCRIPT_NAME or scope.get("root_path", "") or ""
        path_info = scope["path"]
        if script_name and path_info.startswith(script_name):
            path_info = path_info[len(script_name) :]
        found = self.routes().get(path_info)
        if found is None:
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        secure = _is_secure(scope, headers)
        try:
            query_string = scope.get("query_string", b"").decode()
        except UnicodeDecodeError:
            return await self.app(scope, receive, send)
        if (
            not _plain_form(headers)
            or not _host_allowed(headers)
            or (settings.SECURE_SSL_REDIRECT and not secure)
            or settings.DISALLOWED_USER_AGENTS
        ):
            return await self.app(scope, receive, send)

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the caller left before its body was read: Django answers nothing either
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if limit is not None and size > limit:
                return await self.app(scope, _replay(chunks, more, receive), send)
            if not more:
                break
        body = b"".join(chunks)
        try:
            form = QueryDict(body, encoding="utf-8")
        except TooManyFieldsSent:
            return await self.app(scope, _replay(chunks, False, receive), send)

        handle, route = found
        path = "{}/{}".format(script_name.rstrip("/"), path_info.replace("/", "", 1))
        request = WebhookRequest(
            path=path,
            full_path=escape_uri_path(path) + ("?" + iri_to_uri(query_string) if query_string else ""),
            headers=headers,
            body=body,
            form=form,
            query=QueryDict(query_string, encoding="utf-8"),
            remote_addr=(scope.get("client") or ("", 0))[0],
        )
        request_id = request_id_from(headers.get("x-request-id"))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(_pool(), _serve, handle, request, request_id, scope)
        if isinstance(answer, Exception):
            return await self.app({**scope, FAILED: answer}, _replay(chunks, False, receive), send)
        http_request_observe(method="POST", route=route, status=answer.status, seconds=time.perf_counter() - started)
        out = [
            (b"content-type", answer.content_type.encode("latin1")),
            (b"x-request-id", request_id.encode("latin1")),
            *response_headers(secure=secure),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})


def _replay(chunks: list[bytes], more: bool, receive: Receive) -> Receive:
    """The receive of a request whose first chunks were read already: them, then the rest."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": more}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def _serve(handle: Handle, request: WebhookRequest, request_id: str, scope: Scope) -> WebhookAnswer | Exception:
    """On a pool thread: one request's life as Django's handler runs it (the signals close or
    return the thread's database connection) around `handle`; what it raised, for Django."""
    signals.request_started.send(sender=WebhookFront, scope=scope)
    try:
        with log_context(request_id=request_id):
            return handle(request)
    except Exception as exc:  # noqa: BLE001 - Django answers it (answer_django)
        return exc
    finally:
        signals.request_finished.send(sender=WebhookFront)
