"""A small Mastodon client API client (channels-next.md §4.1): plain HTTP with `requests`.

Every call goes to the inbox's own instance URL with `Authorization: Bearer <token>`. Ids are
opaque strings. The instance's rate-limit headers (X-RateLimit-Remaining / -Reset) are handed
back with every answer so that the caller can pace itself; a 429 is `MastodonError` with
`retry_after` taken from X-RateLimit-Reset (or Retry-After).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import requests
import urllib3
from django.utils.dateparse import parse_datetime

from apps.gateways.http_io import never_sent

TIMEOUT = 15.0


@dataclass
class RateLimit:
    remaining: int | None = None
    reset: dt.datetime | None = None


@dataclass
class MastodonError(Exception):
    """The instance answered, and said no (`status` is the HTTP status)."""

    status: int
    error: str
    retry_after: float | None = None
    limit: RateLimit = field(default_factory=RateLimit)

    def __str__(self) -> str:
        return f"Mastodon answered {self.status}: {self.error}"


class MastodonUnreachable(Exception):
    """No answer: `sent` tells whether the request may have reached the instance."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass
class Answer:
    body: Any
    limit: RateLimit
    headers: dict[str, str]


def _limit(headers: Any) -> RateLimit:
    remaining = headers.get("X-RateLimit-Remaining")
    reset = parse_datetime(headers.get("X-RateLimit-Reset") or "") if headers.get("X-RateLimit-Reset") else None
    try:
        left = int(remaining) if remaining is not None else None
    except ValueError:
        left = None
    return RateLimit(remaining=left, reset=reset)


def _retry_after(response: requests.Response, limit: RateLimit) -> float | None:
    if limit.reset is not None:
        return max(1.0, (limit.reset - dt.datetime.now(dt.UTC)).total_seconds())
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def call(
    base_url: str,
    token: str,
    method: str,
    path: str,
    *,
    params: Sequence[tuple[str, str]] | dict[str, Any] | None = None,
    data: Sequence[tuple[str, str]] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    idempotency_key: str = "",
    timeout: float = TIMEOUT,
) -> Answer:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    url = f"{base_url.rstrip('/')}{path}"
    try:
        response = requests.request(
            method, url, params=params, data=data, files=files, headers=headers, timeout=(5, timeout)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise MastodonUnreachable(f"Mastodon {method} {path}: {exc}", sent=not never_sent(exc)) from exc
    limit = _limit(response.headers)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        text = body.get("error") if isinstance(body, dict) else None
        raise MastodonError(
            status=response.status_code,
            error=str(text or response.text[:300] or response.reason),
            retry_after=_retry_after(response, limit) if response.status_code in (429, 503) else None,
            limit=limit,
        )
    return Answer(body=body, limit=limit, headers=dict(response.headers))


def verify_credentials(base_url: str, token: str) -> dict[str, Any]:
    answer = call(base_url, token, "GET", "/api/v1/accounts/verify_credentials")
    return answer.body if isinstance(answer.body, dict) else {}


def instance(base_url: str, token: str) -> dict[str, Any]:
    answer = call(base_url, token, "GET", "/api/v2/instance")
    return answer.body if isinstance(answer.body, dict) else {}


def notifications(base_url: str, token: str, *, min_id: str = "", limit: int = 80) -> Answer:
    """Mentions after `min_id` (the page right after it; newest first within the page)."""
    params: list[tuple[str, str]] = [("types[]", "mention"), ("limit", str(limit))]
    if min_id:
        params.append(("min_id", min_id))
    return call(base_url, token, "GET", "/api/v1/notifications", params=params)


def stream(base_url: str, token: str, *, read_timeout: float = 90.0) -> Iterator[tuple[str, str]]:
    """The user stream (SSE): (event, data) pairs; ("", "") for each heartbeat comment, so that
    the caller can tell the connection is alive. Ends when the server closes it."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    url = f"{base_url.rstrip('/')}/api/v1/streaming/user"
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=(5, read_timeout))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise MastodonUnreachable(f"Mastodon stream: {exc}", sent=False) from exc
    with response:
        if response.status_code != 200:
            raise MastodonError(status=response.status_code, error=response.text[:300] or response.reason)
        event, data = "", cast(list[str], [])
        try:
            for line in _lines(response):
                if line == "":
                    if event or data:
                        yield event, "\n".join(data)
                    event, data = "", []
                elif line.startswith(":"):
                    yield "", ""  # heartbeat (":thump")
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise MastodonUnreachable(f"Mastodon stream broke off: {exc}", sent=False) from exc


def _lines(response: requests.Response) -> Iterator[str]:
    """The stream's lines as they come. `iter_lines` waits for a full chunk of 512 bytes, which
    holds an event back until the next heartbeats fill it: read1 returns what has arrived."""
    buffer = b""
    while True:
        chunk = response.raw.read1(64 * 1024)
        if not chunk:
            if buffer:
                yield buffer.decode("utf-8", "replace").rstrip("\r")
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode("utf-8", "replace").rstrip("\r")


def decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
