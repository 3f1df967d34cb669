"""The widget's public pages: the loader script (`GET /widget.js`) and the demo page
(`GET /widget/demo/`). The API the widget talks to is in apps/widget/views.py."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from apps.accounts.models import Inbox

STATIC_DIR = Path(__file__).resolve().parent / "static" / "widget"
LOADER_PATH = STATIC_DIR / "widget.js"
# The loader names the panel by its development URL; the view puts the collected file's URL
# there (hashed by the manifest storage in production, so the panel itself can be cached long).
PANEL_PLACEHOLDER = '"/static/widget/panel.js"'
LOADER_MAX_AGE = 300  # seconds: a new release reaches embedding pages within minutes
DEMO_INBOX_NAME = "Demo widget"


def _build_loader() -> tuple[bytes, str]:
    source = LOADER_PATH.read_text(encoding="utf-8")
    if PANEL_PLACEHOLDER not in source:
        raise RuntimeError(f"{LOADER_PATH} no longer names the panel as {PANEL_PLACEHOLDER}")
    body = source.replace(PANEL_PLACEHOLDER, json.dumps(static("widget/panel.js"))).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


_cached_loader = lru_cache(maxsize=1)(_build_loader)


def loader_source() -> tuple[bytes, str]:
    """The loader as served, and its ETag (re-read on every request while DEBUG is on)."""
    return _build_loader() if settings.DEBUG else _cached_loader()


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    body, etag = loader_source()
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={LOADER_MAX_AGE}"
    response["X-Content-Type-Options"] = "nosniff"
    # A public file: any page may load it (also with crossorigin="anonymous").
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _demo_inbox(key: str) -> Inbox | None:
    widgets = Inbox.objects.filter(channel=Inbox.Channel.WIDGET)
    if key:
        return widgets.filter(key=key).first()
    return widgets.filter(name=DEMO_INBOX_NAME).order_by("pk").first() or widgets.order_by("pk").first()


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A plain page embedding the widget: the seeded demo inbox, or `?inbox=<key>`.

    `user_id`, `user_hash`, `user_name` and `user_email` in the query string are passed to the
    script tag as the host page would (to try identity verification by hand).
    """
    inbox = _demo_inbox(request.GET.get("inbox", "").strip())
    if inbox is None:
        return render(request, "widget/demo.html", {"inbox": None}, status=404)
    identity = {name: request.GET.get(name, "")[:255] for name in ("user_id", "user_hash", "user_name", "user_email")}
    snippet = f'<script src="{settings.PUBLIC_BASE_URL}/widget.js" data-inbox="{inbox.key}" async></script>'
    return render(request, "widget/demo.html", {"inbox": inbox, "snippet": snippet, **identity})
