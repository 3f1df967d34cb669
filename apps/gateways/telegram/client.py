"""A small Bot API client (channels-next.md §2.5: plain HTTP, no asyncio bot library).

`POST <TELEGRAM_API_BASE_URL>/bot<token>/<method>` with a JSON body, or multipart when a file is
uploaded; the answer is `{"ok": true, "result": …}` or `{"ok": false, "error_code": …,
"description": …, "parameters": {"retry_after": …, "migrate_to_chat_id": …}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from apps.gateways.http_io import never_sent, read_capped

# What the desk asks Telegram for (setWebhook / getUpdates `allowed_updates`).
ALLOWED_UPDATES = ["message", "edited_message", "my_chat_member"]


@dataclass
class TelegramError(Exception):
    """Telegram answered, and said no. `status` is the HTTP status (0: the body was not the
    Bot API's)."""

    status: int
    error_code: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"Telegram answered {self.error_code or self.status}: {self.description}"

    @property
    def retry_after(self) -> float | None:
        value = self.parameters.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


class TelegramUnreachable(Exception):
    """No answer: `sent` tells whether the request may have reached Telegram (a read timeout,
    a reset mid-answer) or certainly did not (the connection was never made)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def method_url(token: str, method: str) -> str:
    return f"{settings.TELEGRAM_API_BASE_URL}/bot{token}/{method}"


def file_url(token: str, file_path: str) -> str:
    return f"{settings.TELEGRAM_API_BASE_URL}/file/bot{token}/{quote(file_path)}"


def call(
    token: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    timeout: float | None = None,
) -> Any:
    """Call a Bot API method; its `result`, or TelegramError / TelegramUnreachable."""
    timeout = timeout if timeout is not None else settings.TELEGRAM_SEND_TIMEOUT
    url = method_url(token, method)
    try:
        if files:
            # Multipart: the plain fields as form fields (lists and objects JSON-encoded).
            form = {k: v if isinstance(v, str | int | float) else _json(v) for k, v in (params or {}).items()}
            response = requests.post(url, data=form, files=files, timeout=(5, timeout))
        else:
            response = requests.post(url, json=params or {}, timeout=(5, timeout))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TelegramUnreachable(f"Telegram {method}: {exc}", sent=not never_sent(exc)) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "ok" not in body:
        raise TelegramError(status=response.status_code, error_code=0, description=response.text[:300])
    if body.get("ok"):
        return body.get("result")
    parameters = body.get("parameters")
    return _raise(response.status_code, body, parameters if isinstance(parameters, dict) else {})


def _raise(status: int, body: dict[str, Any], parameters: dict[str, Any]) -> Any:
    code = body.get("error_code")
    raise TelegramError(
        status=status,
        error_code=code if isinstance(code, int) else status,
        description=str(body.get("description") or ""),
        parameters=parameters,
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def download(token: str, file_path: str, *, max_bytes: int) -> bytes:
    """A file's bytes (after getFile), refusing more than `max_bytes`."""
    try:
        response = requests.get(file_url(token, file_path), stream=True, timeout=(5, 30))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TelegramUnreachable(f"Telegram file download: {exc}", sent=True) from exc
    with response:
        if response.status_code != 200:
            raise TelegramError(status=response.status_code, error_code=response.status_code, description="download")
        too_large = TelegramError(status=413, error_code=413, description=f"file over {max_bytes} bytes")
        try:
            return read_capped(response, max_bytes=max_bytes, too_large=too_large)
        except requests.RequestException as exc:
            raise TelegramUnreachable(f"Telegram file download broke off: {exc}", sent=True) from exc
