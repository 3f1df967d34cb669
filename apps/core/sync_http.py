"""The API's reads through Django's synchronous handler in a thread pool (issue 14).

Under ASGI, Django runs a synchronous view behind an adapted middleware chain: each
`MiddlewareMixin` middleware hops to a worker thread and back for its process_request and
process_response, WhiteNoise (synchronous only) hops back to the event loop, and every request
starts and joins a thread of its own (asgiref's ThreadSensitiveContext). For a 10 ms list page
that is about fifteen thread hand-offs: measured with py-spy, half of a web process's CPU went to
them rather than to the view. This ASGI app sends the API's GET and HEAD requests through
Django's WSGI handler instead — the same settings, URL patterns, middleware, views and
signals (request_started / request_finished: connections go back to the pool), run synchronously
from start to end in one hand-off to a pool thread. Everything else (writes, the console's pages,
webhooks, files, WebSockets) goes to Django's ASGI handler as before.

`SYNC_HTTP_THREADS` (settings, default 16) is the pool's size (0: off, every request through
the ASGI handler); each thread holds a database connection of the pool only while it serves.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

# Only reads of the JSON API; attachments (FileResponse, possibly large) stay streamed by ASGI.
PREFIXES = ("/api/v1/",)
EXCLUDED = ("/api/v1/attachments/",)
METHODS = frozenset({"GET", "HEAD"})


def wsgi_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP scope, with the META that Django's ASGIRequest builds
    (REMOTE_ADDR/PORT, SERVER_NAME/PORT, headers; repeated headers joined by "," and cookies by
    "; ")."""
    script_name = scope.get("root_path", "") or ""
    path = scope["path"]
    path_info = path[len(script_name) :] if script_name and path.startswith(script_name) else path
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path_info.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    server = scope.get("server")
    if server:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1] if server[1] is not None else 80)
    else:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = "unknown", "0"
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_HOST"] = client[0]
        environ["REMOTE_PORT"] = client[1]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper()
        if name == "CONTENT-LENGTH":
            key = "CONTENT_LENGTH"
        elif name == "CONTENT-TYPE":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.replace("-", "_")
        value = raw_value.decode("latin-1")
        if key == "HTTP_COOKIE":
            value = value.rstrip("; ")
            if key in environ:
                value = environ[key] + "; " + value
        elif key in environ:
            value = environ[key] + "," + value
        environ[key] = value
    return environ


class SyncHTTP:
    """ASGI: the API's reads through Django's WSGI handler in `threads` threads, the rest to
    `fallback` (Django's ASGI handler)."""

    def __init__(self, fallback: ASGIApp, threads: int) -> None:
        self.fallback = fallback
        self.threads = threads
        self.handler = WSGIHandler() if threads > 0 else None
        self._executor: ThreadPoolExecutor | None = None

    def handles(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        return (
            self.handler is not None
            and scope.get("type") == "http"
            and scope.get("method") in METHODS
            and path.startswith(PREFIXES)
            and not path.startswith(EXCLUDED)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.handles(scope):
            await self.fallback(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sync-http")
        environ = wsgi_environ(scope, bytes(body))
        status, headers, content = await asyncio.get_running_loop().run_in_executor(self._executor, self.run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else content})

    def run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """In a pool thread: the whole request, the response read and closed (request_finished)."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None, /) -> Any:
            started[:] = [status, headers]
            return None

        assert self.handler is not None
        response: Iterable[bytes] = self.handler(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        status, headers = started
        return (
            int(status.split(" ", 1)[0]),
            [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            content,
        )
