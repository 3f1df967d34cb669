"""What every part of the widget's services shares: tokens and hashes, rate limits, the inbox of a key, the shapes sent to the widget, admission."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.assignment.models import AgentPresence
from apps.sla.services import business_calendar
from apps.widget.hours import hours_open
from apps.widget.models import Visitor, WidgetSettings
from apps.widget.origins import origin_allowed

log = logging.getLogger("apps.widget.services")

TOKEN_BYTES = 32
CLIENT_ID_MAX = 64
NAME_MAX = 200
USER_ID_MAX = 255
FILE_URL_MAX_AGE = 24 * 3600  # seconds a signed attachment URL stays valid
_FILE_SALT = "widget.file"


class WidgetError(Exception):
    """A refusal the widget shows or acts on: a stable code, words, and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


# --- small helpers ------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_hash(secret: str, user_id: str) -> str:
    """The hex HMAC-SHA256 of the host's user id, keyed with the widget's secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(secret: str, user_id: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(user_hash(secret, user_id), given.strip().lower())


def _rule(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    """A rate rule: "20/10" (20 per 10 s), "30/60", or an int (per minute)."""
    if isinstance(value, int):
        return value, 60
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    try:
        count, _, seconds = str(value).partition("/")
        return int(count), int(seconds.rstrip("s") or 60)
    except ValueError:
        return default


def rate_limited(bucket: str, key: str, rule: tuple[int, int]) -> bool:
    """Count one hit in a fixed window; True when this hit is over the limit."""
    count, seconds = rule
    if count <= 0:
        return False
    window = int(timezone.now().timestamp()) // seconds
    name = f"widget-rate:{bucket}:{hashlib.sha1(key.encode()).hexdigest()}:{window}"
    try:
        cache.add(name, 0, seconds + 1)
        hits = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, seconds + 1)
        hits = 1
    except Exception:  # noqa: BLE001 - a cache outage must not stop the chat
        log.warning("widget rate limit cache unavailable", exc_info=True)
        return False
    return hits > count


def connect_rule() -> tuple[int, int]:
    return _rule(settings.WIDGET_RATE_CONNECTS, (30, 60))


def message_rule() -> tuple[int, int]:
    return _rule(settings.WIDGET_RATE_MESSAGES, (20, 10))


def connect_rate_check(ip: str) -> None:
    """Sessions and socket connects per client IP (WIDGET_RATE_CONNECTS)."""
    if rate_limited("connect", ip or "-", connect_rule()):
        raise WidgetError("rate_limited", "too many connections from your address; try again in a minute", 429)


def message_rate_check(visitor: Visitor) -> None:
    """Messages per visitor (WIDGET_RATE_MESSAGES), shared by HTTP and the socket."""
    if rate_limited("message", visitor.public_id, message_rule()):
        raise WidgetError("rate_limited", "you are sending messages too fast; wait a few seconds", 429)


def widget_settings_for(inbox: Inbox) -> WidgetSettings:
    """The inbox's widget settings, created with defaults on first use."""
    try:
        return inbox.widget
    except WidgetSettings.DoesNotExist:
        ws, _ = WidgetSettings.objects.get_or_create(inbox=inbox)
        return ws


def inbox_for_key(key: str) -> Inbox:
    inbox = (
        Inbox.objects.select_related("widget").filter(key=key or "", channel=Inbox.Channel.WIDGET).first()
        if isinstance(key, str) and key
        else None
    )
    if inbox is None:
        raise WidgetError("unknown_inbox", "no widget inbox has that key", 404)
    return inbox


def widget_hours_open(inbox: Inbox) -> bool:
    """Within business hours now: the desk's calendar (apps.sla: the inbox's team's override, the
    desk-wide hours, holidays) when one is set, else the widget's own hours (older setting)."""
    calendar = business_calendar(team_id=inbox.team_id)
    if calendar is not None:
        return calendar.open_at(timezone.now())
    return hours_open(widget_settings_for(inbox).business_hours)


def inbox_online(inbox: Inbox, *, hours_open_now: bool | None = None) -> bool:
    """Someone can answer now: a member agent is online (fresh presence) and it is within hours."""
    if not (widget_hours_open(inbox) if hours_open_now is None else hours_open_now):
        return False
    fresh = timezone.now() - dt.timedelta(seconds=settings.PRESENCE_TTL_SECONDS)
    return AgentPresence.objects.filter(
        agent__inboxes=inbox,
        agent__is_active=True,
        status=AgentPresence.Status.ONLINE,
        last_seen_at__gte=fresh,
    ).exists()


def inbox_open(inbox: Inbox) -> bool:
    return widget_hours_open(inbox)


def limits_data() -> dict[str, Any]:
    return {
        "max_text": settings.WIDGET_MAX_TEXT,
        "max_upload_bytes": settings.WIDGET_MAX_UPLOAD_BYTES,
        "upload_types": list(settings.WIDGET_UPLOAD_TYPES),
    }


def visitor_data(visitor: Visitor) -> dict[str, Any]:
    return {"id": visitor.public_id, "name": visitor.name, "email": visitor.email, "verified": visitor.verified}


def inbox_data(inbox: Inbox) -> dict[str, Any]:
    ws = widget_settings_for(inbox)
    open_now = widget_hours_open(inbox)
    return {
        "name": inbox.name,
        "greeting": ws.greeting,
        "colour": ws.colour,
        "offline_message": ws.offline_message,
        "online": inbox_online(inbox, hours_open_now=open_now),
        "open": open_now,
        "ask_email": ws.ask_email_when_offline,
    }


def _clean_str(value: Any, limit: int, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WidgetError("bad_request", f"{field} must be a string", 400)
    value = " ".join(value.split())
    if len(value) > limit:
        raise WidgetError("bad_request", f"{field} is at most {limit} characters", 400)
    return value


def email_normalize(value: Any) -> str:
    """A typed email address, lower-cased and checked, or WidgetError invalid_email."""
    if not isinstance(value, str) or not value.strip():
        raise WidgetError("invalid_email", "that is not an email address", 400)
    address = value.strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise WidgetError("invalid_email", "that is not an email address", 400) from exc
    if len(address) > 254:
        raise WidgetError("invalid_email", "that email address is too long", 400)
    return address


# --- admission ----------------------------------------------------------------------------


def visitor_admit(visitor: Visitor, *, origin: str | None, host: str | None) -> None:
    """The rules every request of a visitor passes, over the socket and over HTTP alike; raises
    WidgetError (403) when this visitor may not go on from this page.

    - The page's Origin must be one the inbox allows (apps.widget.origins).
    - When the inbox requires identity, an anonymous visitor is refused, also one whose token
      was issued before the admin switched it on: their history is not readable, nor can they
      post, until the host site signs them in (a new session with a user id and its hash).
    Reads the inbox's widget settings already loaded with the visitor; never writes.
    """

    widget_settings = getattr(visitor.inbox, "widget", None)
    if not origin_allowed(widget_settings, origin, host):
        raise WidgetError("origin_not_allowed", "this site may not use this chat widget", 403)
    if widget_settings is not None and widget_settings.require_identity and not visitor.user_id:
        raise WidgetError("identity_required", "this chat is only for signed-in users of the site", 403)
