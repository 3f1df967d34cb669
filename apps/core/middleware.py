"""Every HTTP request: a request id (the load balancer's X-Request-ID, or a new one) bound for the
log lines it causes and returned in the response, the conversation or message id its URL names,
and its duration observed for /metrics under its route pattern (never the raw path, whose ids
would make one time series per conversation)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from apps.core.logs import log_context, request_id_from
from apps.core.metrics import UNMATCHED_ROUTE, http_request_observe

REQUEST_ID_HEADER = "X-Request-ID"
# URL keyword arguments that name a conversation or a message, by route prefix.
_ID_ROUTES = (("api/v1/conversations/", "conversation_id"), ("api/v1/messages/", "message_id"))
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _route_and_ids(request: HttpRequest) -> tuple[str, dict[str, Any]]:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return UNMATCHED_ROUTE, {}
    route = match.route or match.view_name or UNMATCHED_ROUTE
    ids: dict[str, Any] = {}
    pk = match.kwargs.get("pk")
    for prefix, name in _ID_ROUTES:
        if isinstance(pk, int) and route.startswith(prefix):
            ids[name] = pk
    return route, ids


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        start, route, ids = self._begin(request)
        with log_context(**ids):
            response = self.get_response(request)
        return self._end(request, response, start, route, ids["request_id"])

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        start, route, ids = self._begin(request)
        with log_context(**ids):
            response = await self.get_response(request)
        return self._end(request, response, start, route, ids["request_id"])

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[float, str, dict[str, Any]]:
        route, ids = _route_and_ids(request)
        ids["request_id"] = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = ids["request_id"]  # type: ignore[attr-defined]
        return time.perf_counter(), route, ids

    @staticmethod
    def _end(request: HttpRequest, response: HttpResponse, start: float, route: str, request_id: str) -> HttpResponse:
        http_request_observe(
            method=request.method if request.method in _METHODS else "other",
            route=route,
            status=response.status_code,
            seconds=time.perf_counter() - start,
        )
        response[REQUEST_ID_HEADER] = request_id
        return response
