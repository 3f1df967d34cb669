"""One POST to a receiver, guarded against server-side request forgery.

The receiver's host is resolved when the delivery is sent (not when the subscription was
saved: DNS can change), every address it resolves to must be public, and the connection is
made to one of those checked addresses (so a second lookup cannot swap in another: DNS
rebinding). Redirects: 307/308 are followed (they keep the POST and its body), at most
MAX_REDIRECTS, each hop checked the same way; other 3xx are not followed.
Private and loopback addresses are allowed only with WEBHOOKS_ALLOW_PRIVATE, or for the
subscription's own host when an admin allowed it (`allow_private_host`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from apps.gateways import http_io
from apps.gateways.base import TransientSendError

MAX_REDIRECTS = 3
EXCERPT = 300


class Refused(Exception):
    """Not sent, and never will be as things stand (a private address, a bad URL)."""


class Unreachable(Exception):
    """No answer: a refused connection, a timeout, a reset. Worth retrying."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str
    latency_ms: int
    location: str = ""


def checked_addresses(host: str, port: int, *, private_ok: bool) -> list[str]:
    """The addresses of `host`, all of them allowed; Refused when any is not."""
    try:
        return http_io.checked_addresses(host, port, private_ok=private_ok or settings.WEBHOOKS_ALLOW_PRIVATE)
    except TransientSendError as exc:  # it does not resolve now
        raise Unreachable(str(exc)) from exc
    except http_io.PrivateAddress as exc:
        raise Refused(
            f"{host} resolves to {exc.address}, a private, loopback or reserved address; "
            "an admin can allow private destinations for this subscription"
        ) from exc


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _post_once(url: str, body: bytes, headers: dict[str, str], *, private_ok: bool, timeout: float) -> Answer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = checked_addresses(host, port, private_ok=private_ok)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    errors: list[str] = []
    for address in addresses:
        cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = cls(host, port, address, timeout)
        started = time.monotonic()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            excerpt = response.read(EXCERPT).decode("utf-8", "replace")
            latency = int((time.monotonic() - started) * 1000)
            return Answer(
                status=response.status,
                excerpt=excerpt,
                latency_ms=latency,
                location=response.getheader("Location") or "",
            )
        except OSError as exc:  # refused, reset, timed out, TLS (ssl.SSLError)
            errors.append(f"{address}: {exc}")
            if isinstance(exc, TimeoutError | socket.timeout) or conn.sock is not None:
                # It connected (or hung): the receiver may have the request; do not try
                # another address of the same host in this attempt.
                raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
    raise Unreachable(f"could not connect to {host}: {'; '.join(errors)}")


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private_host: bool, timeout: float) -> Answer:
    """POST `body` to `url`, following 307/308 redirects (each hop checked)."""
    origin = urlsplit(url).hostname
    total = 0
    for _ in range(MAX_REDIRECTS + 1):
        host = urlsplit(url).hostname
        answer = _post_once(url, body, headers, private_ok=allow_private_host and host == origin, timeout=timeout)
        total += answer.latency_ms
        if answer.status in (307, 308) and answer.location:
            url = urljoin(url, answer.location)
            continue
        return Answer(status=answer.status, excerpt=answer.excerpt, latency_ms=total, location=answer.location)
    raise Refused(f"more than {MAX_REDIRECTS} redirects")
