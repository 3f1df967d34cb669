from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
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


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_channel_layer() -> None:
    """Every Redis the channel layer shards over answers (CHANNEL_REDIS_URLS may differ from
    REDIS_URL); the in-memory layer of the embedded mode always does."""
    import redis

    config: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    for host in config.get("CONFIG", {}).get("hosts", []):
        url = host["address"] if isinstance(host, dict) else host
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    try:
        if cache.get(key) != "1":
            raise RuntimeError("the cache did not keep what was written")
    finally:
        cache.delete(key)


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when every dependency answers: the database, Redis (when configured), the channel
    layer and the cache. 503 otherwise, naming what failed under `failing`; the log line has
    the error (the answer does not: it is public)."""
    checks: dict[str, str] = {}
    probes = {"database": _check_database, "channel_layer": _check_channel_layer, "cache": _check_cache}
    if settings.REDIS_URL:
        probes["redis"] = _check_redis
    else:
        checks["redis"] = "not configured (in-memory channel layer, in-process tasks)"
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readyz: %s check failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = "error"
    failing = sorted(name for name, result in checks.items() if result == "error")
    body = {"status": "error" if failing else "ok", "failing": failing, "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)
