"""Which sites may embed a widget: the Origin header against the inbox's allowed origins."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def origin_valid(origin: str) -> bool:
    """scheme://host[:port] and nothing more."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.path
        and not parts.query
        and not parts.fragment
        and not parts.username
        and "*" not in origin
    )


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def own_origin() -> str:
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(widget_settings: object | None) -> set[str]:
    """The origins whose pages may use this widget: its list, or the desk's own when empty.

    The desk's own origin is always allowed (the demo page, the admin preview)."""
    listed = {_normal(o) for o in widget_settings.origins()} if widget_settings is not None else set()  # type: ignore[attr-defined]
    return listed | {own_origin()}


def origin_allowed(widget_settings: object | None, origin: str | None, host: str | None = None) -> bool:
    """An Origin header is allowed when it is listed, or when it is the desk itself: the page came
    from the host the request went to (the demo page on whatever address and port the desk is
    run on). A request without Origin is not a browser's cross-site request (curl, a server): it
    is allowed, since the token or hash is what protects it."""
    if not origin:
        return True
    if origin == "null":
        return False
    if host and origin_valid(origin) and urlsplit(origin).netloc.lower() == host.strip().lower():
        return True
    return _normal(origin) in allowed_origins(widget_settings)
