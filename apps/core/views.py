from __future__ import annotations

import logging
from pathlib import Path

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

log = logging.getLogger(__name__)


FAVICON = Path(__file__).resolve().parent / "static" / "core" / "favicon.ico"


def home(request: HttpRequest) -> HttpResponse:
    return redirect("/console/")


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask every site for /favicon.ico: answer with the desk's icon, not a 404 in the log."""
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The database (and Redis, when configured) answer."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.warning("readyz: database check failed: %s", exc)
        checks["database"] = "error"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            log.warning("readyz: redis check failed: %s", exc)
            checks["redis"] = "error"
    else:
        checks["redis"] = "not configured (in-memory channel layer)"
    layer = get_channel_layer()
    checks["channel_layer"] = type(layer).__name__ if layer else "none"
    ok = all(v != "error" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)
