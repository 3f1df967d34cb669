"""Content-Security-Policy on every HTML page the desk serves (the console, sign-in, the admin,
the widget demo, the home page): no inline script, no eval, no plugins, no <base>, no framing,
connections only back to the desk (its HTTP and WebSocket origin).

Two pages get one thing more, each for a reason the policy cannot express otherwise:
- the console (`/console/`) shows a mail "as formatted by its sender" in a sandboxed srcdoc frame,
  and a srcdoc frame inherits the page's policy: the mail's own inline styles need
  `style-src 'unsafe-inline'`, and its remote images (loaded only when the agent asks) need
  `img-src https: http:`. The frame adds its own stricter policy on top (apps/console/static/
  console/email.js); scripts stay `'self'` only.
- the Django admin (`/admin/`) has style attributes in Django's own templates and widgets.

A view that sets its own policy (the widget's stored files: `default-src 'none'; sandbox`) keeps
it. `CSP_REPORT_URI`, when set, is where browsers report violations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
CONSOLE_PATH = "/console/"
ADMIN_PREFIX = "/admin/"


def _socket_origin(request: HttpRequest) -> str:
    """The desk's own WebSocket origin (ws:// beside http://, wss:// beside https://).

    CSP Level 3 lets `'self'` match it too; older browsers need it spelled out."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}"


def policy_for(request: HttpRequest) -> str:
    """The policy of the page at request.path."""
    path = request.path
    style = ["'self'"]
    img = ["'self'", "data:", "blob:"]
    if path == CONSOLE_PATH:
        style.append("'unsafe-inline'")
        img += ["https:", "http:"]
    elif path.startswith(ADMIN_PREFIX):
        style.append("'unsafe-inline'")
    directives = [
        ("default-src", ["'self'"]),
        ("script-src", ["'self'"]),
        ("style-src", style),
        ("img-src", img),
        ("font-src", ["'self'", "data:"]),
        ("connect-src", ["'self'", _socket_origin(request)]),
        ("media-src", ["'self'", "blob:"]),
        ("frame-src", ["'self'"]),
        ("worker-src", ["'none'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'none'"]),
        ("form-action", ["'self'"]),
        ("frame-ancestors", ["'none'"]),
    ]
    report_uri = getattr(settings, "CSP_REPORT_URI", "")
    if report_uri:
        directives.append(("report-uri", [report_uri]))
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


def _is_html(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def _apply(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if _is_html(response) and HEADER not in response:
        response[HEADER] = policy_for(request)
    return response


class ContentSecurityPolicyMiddleware:
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
        return _apply(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return _apply(request, await self.get_response(request))
