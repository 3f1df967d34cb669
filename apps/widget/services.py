"""Widget visitors: sessions, identity, sending, history, the email they leave. Writes live here.

A visitor holds an opaque token (we store only its sha256). Their widget identity (kind
`widget`, address = the visitor's public id) belongs to a contact of its own, or — when the host
site vouches for them with a valid HMAC of their user id — to the contact that owns the
`user_id` identity, so an agent sees that user's chats across devices and channels in one
timeline. What a visitor may see is decided here (`visitor_conversation_ids`), never by the
contact alone: a merged contact does not show one visitor another visitor's conversations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Agent, Inbox
from apps.assignment.models import AgentPresence
from apps.bus.services import status_receipt_record
from apps.contacts.models import Contact, Identity
from apps.contacts.services import identity_attach
from apps.conversations.models import Attachment, Conversation, Message
from apps.conversations.services import message_receive
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.core.filetypes import content_matches
from apps.core.locks import NAMESPACE_IDENTITY, NAMESPACE_PROVIDER_MESSAGE, xact_lock
from apps.gateways.base import DeliveryStatus, InboundAttachment, InboundMessage
from apps.widget.context import visitor_context_clean, visitor_label
from apps.widget.hours import hours_open
from apps.widget.models import Visitor, WidgetSettings, new_secret
from apps.widget.origins import origin_allowed

log = logging.getLogger(__name__)

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


def inbox_online(inbox: Inbox) -> bool:
    """Someone can answer now: a member agent is online (fresh presence) and it is within hours."""
    ws = widget_settings_for(inbox)
    if not hours_open(ws.business_hours):
        return False
    fresh = timezone.now() - dt.timedelta(seconds=settings.PRESENCE_TTL_SECONDS)
    return AgentPresence.objects.filter(
        agent__inboxes=inbox,
        agent__is_active=True,
        status=AgentPresence.Status.ONLINE,
        last_seen_at__gte=fresh,
    ).exists()


def inbox_open(inbox: Inbox) -> bool:
    return hours_open(widget_settings_for(inbox).business_hours)


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
    return {
        "name": inbox.name,
        "greeting": ws.greeting,
        "colour": ws.colour,
        "offline_message": ws.offline_message,
        "online": inbox_online(inbox),
        "open": hours_open(ws.business_hours),
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


# --- sessions -----------------------------------------------------------------------------


def visitor_for_token(*, inbox_key: str, token: str) -> Visitor | None:
    """The visitor holding this token in this inbox, or None. One query."""
    if not token or not inbox_key or not isinstance(token, str) or len(token) > 200:
        return None
    return (
        Visitor.objects.select_related("inbox", "inbox__widget", "identity")
        .filter(token_hash=token_hash(token), inbox__key=inbox_key, inbox__channel=Inbox.Channel.WIDGET)
        .first()
    )


def _user_contact(*, user_id: str, name: str) -> Contact:
    """The contact that owns this host user id (created with a verified user_id identity)."""
    xact_lock(NAMESPACE_IDENTITY, f"user_id:{user_id}")
    identity = Identity.objects.select_related("contact").filter(kind=Identity.Kind.USER_ID, address=user_id).first()
    if identity is None:
        contact = Contact.objects.create(name=name)
        identity = Identity.objects.create(
            contact=contact, kind=Identity.Kind.USER_ID, address=user_id, display=user_id, verified=True
        )
    elif not identity.verified:
        identity.verified = True
        identity.save(update_fields=["verified"])
    contact = identity.contact
    while contact.merged_into_id:  # follow a merge to the survivor
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def _email_claim(*, contact: Contact, email: str) -> None:
    """Record a typed email as an unverified identity of the contact, only if nobody owns it."""
    if not email:
        return
    if Identity.objects.filter(kind=Identity.Kind.EMAIL, address=email).exists():
        return  # someone has it (maybe this contact): never merge on a claim
    try:
        with transaction.atomic():
            Identity.objects.create(contact=contact, kind=Identity.Kind.EMAIL, address=email, display=email)
    except IntegrityError:
        pass


@dataclass(frozen=True)
class Session:
    visitor: Visitor
    token: str
    created: bool


def visitor_session(
    *,
    inbox_key: Any,
    token: Any = None,
    user_id: Any = None,
    user_hash_given: Any = None,
    name: Any = None,
    email: Any = None,
    origin: str | None = None,
    inbox: Inbox | None = None,
    page_url: Any = None,
    user_agent: str = "",
    time_zone: Any = None,
) -> Session:
    """Resume the visitor behind `token`, or start a new one. Origin and rate are the caller's.

    - A valid token for this inbox resumes its visitor (last_seen updated; a fresh name/email
      is recorded) — unless the host now vouches for a *different* user id, or the token is
      anonymous and a user id is now vouched for: then a new visitor starts (shared computer).
    - With require_identity, a user id and its valid hash are needed, anonymous or not.
    """
    if not isinstance(inbox_key, str) or not inbox_key:
        raise WidgetError("bad_request", "inbox (the widget's key) is required", 400)
    if token is not None and not isinstance(token, str):
        raise WidgetError("bad_request", "token must be a string", 400)
    if inbox is None or inbox.key != inbox_key:  # the caller may have loaded it (the session view)
        inbox = inbox_for_key(inbox_key)
    ws = widget_settings_for(inbox)
    uid = _clean_str(user_id, USER_ID_MAX, "user_id")
    given = user_hash_given if isinstance(user_hash_given, str) else ""
    if user_hash_given is not None and not isinstance(user_hash_given, str):
        raise WidgetError("bad_request", "user_hash must be a string", 400)
    clean_name = _clean_str(name, NAME_MAX, "name")
    clean_email = email_normalize(email) if isinstance(email, str) and email.strip() else ""
    if email is not None and not isinstance(email, str):
        raise WidgetError("bad_request", "email must be a string", 400)
    if uid or given:
        if not uid or not user_hash_valid(ws.secret, uid, given):
            raise WidgetError("identity_invalid", "the user id and its hash do not match", 403)
    elif ws.require_identity:
        raise WidgetError("identity_required", "this chat is only for signed-in users of the site", 403)

    now = timezone.now()
    existing = visitor_for_token(inbox_key=inbox_key, token=token) if token else None
    if existing is not None and existing.user_id == uid:
        fields = ["last_seen_at"]
        existing.last_seen_at = now
        if clean_name and clean_name != existing.name:
            existing.name = clean_name
            fields.append("name")
        if clean_email and clean_email != existing.email:
            existing.email = clean_email
            fields.append("email")
        with transaction.atomic():
            existing.save(update_fields=fields)
            if "name" in fields:
                Identity.objects.filter(pk=existing.identity_id).update(display=clean_name)
            if "email" in fields:
                _email_claim(contact=existing.identity.contact, email=clean_email)
        return Session(visitor=existing, token=str(token), created=False)

    new_token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        contact = _user_contact(user_id=uid, name=clean_name) if uid else Contact.objects.create(name=clean_name)
        visitor = Visitor(
            inbox=inbox,
            token_hash=token_hash(new_token),
            user_id=uid,
            name=clean_name,
            email=clean_email,
            **visitor_context_clean(page_url=page_url, user_agent=user_agent, time_zone=time_zone),
        )
        visitor.identity = Identity.objects.create(
            contact=contact,
            kind=Identity.Kind.WIDGET,
            address=visitor.public_id,
            display=clean_name or visitor.public_id,
            verified=bool(uid),
        )
        visitor.last_seen_at = now
        visitor.save()
        if not clean_name:
            # Agents see a person, never a raw id: "Visitor 12" until they give a name.
            visitor.identity.display = visitor_label(visitor)
            visitor.identity.save(update_fields=["display"])
        _email_claim(contact=contact, email=clean_email)
    return Session(visitor=visitor, token=new_token, created=True)


@transaction.atomic
def visitor_set_email(*, visitor: Visitor, email: Any) -> str:
    """The visitor leaves an address for replies while they are away (an unverified claim).
    Counted with their messages (WIDGET_RATE_MESSAGES): it decides where our mail goes."""
    address = email_normalize(email)
    message_rate_check(visitor)
    Visitor.objects.filter(pk=visitor.pk).update(email=address)
    visitor.email = address
    _email_claim(contact=visitor.identity.contact, email=address)
    return address


# --- what a visitor may see ---------------------------------------------------------------


def _conversations_q(visitor: Visitor) -> Q:
    """Conversations of this inbox the visitor (or, verified, the same host user) wrote in."""
    if visitor.user_id:
        return Q(
            inbox_id=visitor.inbox_id,
            messages__identity__visitors__user_id=visitor.user_id,
            messages__identity__visitors__inbox_id=visitor.inbox_id,
        )
    return Q(inbox_id=visitor.inbox_id, messages__identity_id=visitor.identity_id)


def visitor_conversation_ids(visitor: Visitor) -> list[int]:
    return list(
        Conversation.objects.filter(_conversations_q(visitor)).values_list("id", flat=True).distinct().order_by("id")
    )


def visitor_owns_conversation(visitor: Visitor, conversation_id: int) -> bool:
    return Conversation.objects.filter(_conversations_q(visitor), pk=conversation_id).exists()


def _visible_messages(conversation_ids: Sequence[int]) -> Any:
    return Message.objects.filter(conversation_id__in=list(conversation_ids), kind=Message.Kind.MESSAGE)


def visitor_messages_page(
    *, visitor: Visitor, before: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """Oldest-first page of the visitor's messages (never notes or activities), newest page first."""
    limit = max(1, min(int(limit), 100))
    ids = visitor_conversation_ids(visitor)
    query = _visible_messages(ids).select_related("sender").prefetch_related("attachments")
    if before is not None:
        query = query.filter(id__lt=before)
    rows = list(query.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    return list(reversed(rows[:limit])), more


_STATUS = {
    Message.Status.RECEIVED: "received",
    Message.Status.QUEUED: "queued",
    Message.Status.SENDING: "queued",
    Message.Status.SENT: "sent",
    Message.Status.DELIVERED: "delivered",
    Message.Status.READ: "delivered",
    Message.Status.UNDELIVERED: "failed",
    Message.Status.FAILED: "failed",
}


def client_id_of(provider_id: str | None) -> str | None:
    """The visitor's client id, kept in the provider id `widget:<public id>:<client id>`."""
    if not provider_id or not provider_id.startswith("widget:"):
        return None
    parts = provider_id.split(":", 2)
    return parts[2] if len(parts) == 3 else None


def _author_name(sender: Any) -> str:
    return (sender.display_name or sender.first_name or "Support") if sender else "Support"


def visitor_event_message(data: dict[str, Any]) -> dict[str, Any] | None:
    """The visitor's `msg` shape from a message event's data (apps.conversations.events.message_data),
    without touching the database except for the author's name (cached). None for notes and
    activities: a visitor never sees them."""
    if data.get("kind") != Message.Kind.MESSAGE:
        return None
    inbound = data.get("direction") == Message.Direction.INBOUND
    author = None
    if not inbound:
        author = {"name": _agent_name(data.get("sender"))}
    attachments = []
    for item in data.get("attachments") or []:
        attachments.append(
            {
                "id": item["id"],
                "name": item.get("filename", ""),
                "content_type": item.get("content_type", ""),
                "size": item.get("size", 0),
                "url": _signed_url(item["id"]) if item.get("url") else None,
            }
        )
    return {
        "id": data["id"],
        "client_id": client_id_of((data.get("meta") or {}).get("widget", {}).get("provider_id")) if inbound else None,
        "conversation": data["conversation"],
        "seq": data["seq"],
        "direction": "in" if inbound else "out",
        "text": data.get("body", ""),
        "author": author,
        "status": _STATUS.get(data.get("status", ""), "sent"),  # type: ignore[call-overload]
        "created_at": data["created_at"],
        "attachments": attachments,
    }


_names: dict[int, tuple[float, str]] = {}


def _agent_name(agent_id: Any) -> str:
    if not isinstance(agent_id, int):
        return "Support"
    cached = _names.get(agent_id)
    now = timezone.now().timestamp()
    if cached and now - cached[0] < 300:
        return cached[1]

    name = _author_name(Agent.objects.filter(pk=agent_id).first())
    _names[agent_id] = (now, name)
    return name


def _signed_url(attachment_id: int) -> str:
    return f"/widget/api/files/{signing.dumps(attachment_id, salt=_FILE_SALT, compress=True)}"


def attachment_url(attachment: Attachment) -> str:
    """A signed, time-limited path to one stored file (relative to the desk's base URL)."""
    return _signed_url(attachment.pk)


def attachment_from_signed(value: str) -> Attachment | None:
    try:
        pk = signing.loads(value, salt=_FILE_SALT, max_age=FILE_URL_MAX_AGE)
    except signing.BadSignature:
        return None
    return Attachment.objects.filter(pk=pk).exclude(file="").first() if isinstance(pk, int) else None


def visitor_message_data(message: Message) -> dict[str, Any]:
    """What a visitor sees of a message (the widget's `msg` shape): no notes, ids or meta of ours."""
    inbound = message.direction == Message.Direction.INBOUND
    attachments = message.attachments.all() if message.meta.get("attachments") else []
    author = None
    if not inbound:
        sender = message.sender
        author = {"name": _author_name(sender)}
    return {
        "id": message.pk,
        "client_id": client_id_of(message.provider_id) if inbound else None,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "direction": "in" if inbound else "out",
        "text": message.body,
        "author": author,
        "status": _STATUS.get(message.status, "sent"),  # type: ignore[call-overload]
        "created_at": message.created_at.isoformat(),
        "attachments": [
            {
                "id": a.pk,
                "name": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": attachment_url(a) if a.file else None,
            }
            for a in attachments
        ],
    }


# --- sending ------------------------------------------------------------------------------


def _read_uploads(uploads: Sequence[UploadedFile]) -> list[InboundAttachment]:
    if len(uploads) > 5:
        raise WidgetError("too_many_files", "at most 5 files at once", 400)
    allowed = [t.lower() for t in settings.WIDGET_UPLOAD_TYPES]
    out = []
    for upload in uploads:
        name = upload.name or "file"
        if upload.size is not None and upload.size > settings.WIDGET_MAX_UPLOAD_BYTES:
            raise WidgetError(
                "too_large", f"{name} is {upload.size} bytes; the limit is {settings.WIDGET_MAX_UPLOAD_BYTES}", 413
            )
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if content_type not in allowed:
            raise WidgetError(
                "type_not_allowed", f"{name}: files of type {content_type or 'unknown'} cannot be sent", 415
            )
        data = upload.read(settings.WIDGET_MAX_UPLOAD_BYTES + 1)
        if len(data) > settings.WIDGET_MAX_UPLOAD_BYTES:
            raise WidgetError("too_large", f"{name} is over {settings.WIDGET_MAX_UPLOAD_BYTES} bytes", 413)
        if not data:
            raise WidgetError("empty", f"{name} is empty", 400)
        if not content_matches(content_type, data):
            raise WidgetError("type_not_allowed", f"{name} is not really {content_type}", 415)
        out.append(InboundAttachment(data=data, filename=name, content_type=content_type))
    return out


def visitor_message_send(
    *, visitor: Visitor, client_id: str, text: str, uploads: Sequence[UploadedFile] = ()
) -> tuple[Message, bool]:
    """Store a visitor's message once (durable before the caller acks). Returns (message, created).

    Idempotent by client_id: the provider id `widget:<public id>:<client id>` is unique per inbox,
    so a resend (a retry after a lost ack, the offline queue) returns the stored message.
    """
    if not isinstance(client_id, str) or not client_id or len(client_id) > CLIENT_ID_MAX:
        raise WidgetError("bad_request", f"client_id must be 1 to {CLIENT_ID_MAX} characters", 400)
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise WidgetError("bad_request", "text must be a string", 400)
    provider_id = f"widget:{visitor.public_id}:{client_id}"
    existing = Message.objects.filter(inbox_id=visitor.inbox_id, provider_id=provider_id).first()
    if existing is not None:
        return existing, False
    if len(text) > settings.WIDGET_MAX_TEXT:
        raise WidgetError(
            "too_long", f"the message is {len(text)} characters; the limit is {settings.WIDGET_MAX_TEXT}", 400
        )
    if not text.strip() and not uploads:
        raise WidgetError("empty", "the message is empty", 400)
    files = _read_uploads(uploads)
    message_rate_check(visitor)

    now = timezone.now()
    inbound = InboundMessage(
        channel=Identity.Kind.WIDGET,
        sender=visitor.public_id,
        sender_display=visitor.name or visitor.public_id,
        recipient=visitor.inbox.key,
        provider_message_id=provider_id,
        text=text,
        received_at=now,
        sender_name=visitor.name,
        attachments=tuple(files),
        meta={"widget": {"visitor": visitor.public_id, "verified": visitor.verified, "provider_id": provider_id}},
        inbox_id=visitor.inbox_id,
    )
    with transaction.atomic():
        xact_lock(NAMESPACE_PROVIDER_MESSAGE, provider_id)
        existing = Message.objects.filter(inbox_id=visitor.inbox_id, provider_id=provider_id).first()
        if existing is not None:
            return existing, False
        identity = Identity.objects.select_related("contact").get(pk=visitor.identity_id)
        ids = visitor_conversation_ids(visitor)
        conversation = (
            Conversation.objects.filter(pk__in=ids)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-last_activity_at")
            .first()
        )
        message, created = message_receive(
            inbox=visitor.inbox,
            inbound=inbound,
            received_at=now,
            conversation=conversation,
            new_conversation=conversation is None,
            identity=identity,
        )
        Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=now)
    return message, created


# --- seen, and whether the visitor is there -------------------------------------------------

SOCKET_PRESENCE_TTL = 120  # seconds; a visitor socket refreshes it with every heartbeat


def _presence_key(visitor_id: int) -> str:
    return f"widget-visitor-socket:{visitor_id}"


def visitor_socket_touch(visitor_id: int) -> None:
    """A socket of this visitor is connected (call on admission and with each heartbeat)."""
    try:
        cache.set(_presence_key(visitor_id), 1, SOCKET_PRESENCE_TTL)
    except Exception:  # noqa: BLE001 - presence is a hint; the delayed sweep still emails
        log.warning("widget presence cache unavailable", exc_info=True)


def visitor_socket_gone(visitor_id: int) -> None:
    """The visitor's socket closed (another tab may still be open: the sweep's delay covers it)."""
    try:
        cache.delete(_presence_key(visitor_id))
    except Exception:  # noqa: BLE001
        log.warning("widget presence cache unavailable", exc_info=True)


def visitor_socket_connected(visitor_id: int) -> bool:
    try:
        return bool(cache.get(_presence_key(visitor_id)))
    except Exception:  # noqa: BLE001
        return False


def visitor_messages_seen(*, visitor: Visitor, messages: Sequence[Message]) -> int:
    """Agent replies the visitor has now received (history fetched, or pushed to their socket):
    sent -> delivered. Returns how many moved. The offline email is then not needed."""

    moved = 0
    for message in messages:
        if (
            message.direction == Message.Direction.OUTBOUND
            and message.kind == Message.Kind.MESSAGE
            and message.status == Message.Status.SENT
            and message.provider_id
        ):
            moved += bool(
                status_receipt_record(
                    source="widget",
                    status=DeliveryStatus(provider_message_id=message.provider_id, status=Message.Status.DELIVERED),
                    payload={"visitor": visitor.public_id},
                )
            )
    return moved


def visitor_message_ids_seen(*, visitor: Visitor, message_ids: Sequence[int]) -> int:
    """The socket's form of `visitor_messages_seen`: by id, only this visitor's conversations."""
    ids = visitor_conversation_ids(visitor)
    rows = list(
        Message.objects.filter(
            pk__in=list(message_ids),
            conversation_id__in=ids,
            direction=Message.Direction.OUTBOUND,
            status=Message.Status.SENT,
        )
    )
    return visitor_messages_seen(visitor=visitor, messages=rows)


# --- administration -----------------------------------------------------------------------


def _require_admin(by: Any) -> None:

    if by is None or getattr(by, "role", None) != Agent.Role.ADMIN:
        raise PermissionDenied("only an administrator may do this", code="admin_only")


def user_id_identity_add(*, contact_id: int, user_id: str, by: Any) -> tuple[Identity, bool]:
    """An admin ties a host-site user id to a contact (e.g. the SMS customer who is user u-42),
    so that the widget chats of that user, once the site vouches for them with a valid hash,
    land in this contact's timeline. Unverified until such a hash arrives. Returns (identity, created).
    """

    _require_admin(by)
    clean = " ".join((user_id or "").split()) if isinstance(user_id, str) else ""
    if not clean or len(clean) > USER_ID_MAX:
        raise InvalidInput(f"a user id is 1 to {USER_ID_MAX} characters", code="invalid_address")
    return identity_attach(contact_id=contact_id, kind=Identity.Kind.USER_ID, address=clean, label=f"user id {clean}")


WIDGET_FIELDS = (
    "allowed_origins",
    "greeting",
    "offline_message",
    "colour",
    "business_hours",
    "require_identity",
    "ask_email_when_offline",
)


def widget_settings_update(
    *, inbox_id: int, by: Any, regenerate_secret: bool = False, **changes: Any
) -> WidgetSettings:
    """An admin changes a widget inbox's settings (validated as the admin form does)."""

    _require_admin(by)
    unknown = set(changes) - set(WIDGET_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown settings {sorted(unknown)}", code="invalid")
    with transaction.atomic():
        inbox = Inbox.objects.select_for_update(no_key=True).filter(pk=inbox_id, channel=Inbox.Channel.WIDGET).first()
        if inbox is None:
            raise NotFound("no such widget inbox")
        ws = widget_settings_for(inbox)
        for name, value in changes.items():
            if name == "allowed_origins" and isinstance(value, list | tuple):
                value = "\n".join(str(v).strip() for v in value)
            setattr(ws, name, value)
        if regenerate_secret:
            ws.secret = new_secret()
        try:
            ws.full_clean(exclude=["inbox"])
        except ValidationError as exc:
            first = next(iter(exc.message_dict.items()))
            raise InvalidInput(f"{first[0]}: {first[1][0]}", code="invalid_widget_settings") from exc
        ws.save()
    return ws


def embed_snippet(inbox: Inbox) -> str:
    """The HTML an admin pastes into the host site's pages."""
    return (
        f'<script src="{settings.PUBLIC_BASE_URL}/widget.js" data-inbox="{inbox.key}" async></script>\n'
        "<!-- Signed-in users (optional; required when the inbox requires identity):\n"
        '     add data-user-id="<the user id>" data-user-hash="<HMAC-SHA256 hex, see below>"\n'
        '     data-user-name="…" data-user-email="…" to the tag. -->'
    )


def hmac_recipes(secret: str = "<widget secret>") -> dict[str, str]:
    """How the host site's server computes data-user-hash (never in the browser: the secret stays server-side)."""
    return {
        "python": (
            f'import hashlib, hmac\nuser_hash = hmac.new(b"{secret}", user_id.encode(), hashlib.sha256).hexdigest()'
        ),
        "node": (
            'const crypto = require("crypto");\n'
            f'const userHash = crypto.createHmac("sha256", "{secret}").update(userId).digest("hex");'
        ),
        "php": f"$userHash = hash_hmac('sha256', $userId, '{secret}');",
    }
