"""Log lines that say which request, conversation and message they are about.

`LOG_FORMAT=json` writes one JSON object per line (for Loki, Elasticsearch, CloudWatch …);
`plain` (the default, what `make run` shows) stays human. Either way each record gets
`request_id`, `conversation_id` and `message_id` from context variables: the request middleware
binds the request id (and the ids in the URL), a Celery task binds the ids it was called with,
and any code that knows better binds them with `log_context`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
conversation_id_var: ContextVar[int | None] = ContextVar("conversation_id", default=None)
message_id_var: ContextVar[int | None] = ContextVar("message_id", default=None)

_CONTEXT: dict[str, ContextVar[Any]] = {
    "request_id": request_id_var,
    "conversation_id": conversation_id_var,
    "message_id": message_id_var,
}
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """An incoming X-Request-ID when it is a sane token (a load balancer's), else a new one."""
    if header and _SAFE_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


@contextlib.contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Bind request_id / conversation_id / message_id for the log lines written inside."""
    tokens = [(var, var.set(ids[name])) for name, var in _CONTEXT.items() if ids.get(name) is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound ids on every record (an id passed in `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound ids, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The human format, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name, None) is not None]
        return f"{line} [{' '.join(ids)}]" if ids else line


# --- Celery: a task's log lines carry the ids it was called with --------------------------

REQUEST_ID_HEADER = "supportdesk_request_id"
# Tasks whose first argument is a message id (offline_email(message_id)).
_MESSAGE_TASKS = {"offline_email"}
_task_tokens: dict[str, list[tuple[ContextVar[Any], Any]]] = {}


def task_headers_add(headers: dict[str, Any]) -> None:
    """On publish: the request that queued a task lends it its request id."""
    request_id = request_id_var.get()
    if request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def task_context_bind(task: Any, task_id: str, args: Any, kwargs: Any) -> None:
    ids: dict[str, Any] = {key: (kwargs or {}).get(key) for key in ("conversation_id", "message_id")}
    if ids["message_id"] is None and args and task.name.rsplit(".", 1)[-1] in _MESSAGE_TASKS:
        ids["message_id"] = args[0]
    if request_id_var.get() is None:  # a worker; an eager task keeps its request's id
        request = getattr(task, "request", None)
        headers = getattr(request, "headers", None) or {}
        ids["request_id"] = (
            getattr(request, REQUEST_ID_HEADER, None) or headers.get(REQUEST_ID_HEADER) or f"task-{task_id}"
        )
    tokens = [(var, var.set(ids[name])) for name, var in _CONTEXT.items() if ids.get(name) is not None]
    _task_tokens[task_id] = tokens


def task_context_unbind(task_id: str) -> None:
    for var, token in reversed(_task_tokens.pop(task_id, [])):
        with contextlib.suppress(ValueError):  # bound in another context
            var.reset(token)
