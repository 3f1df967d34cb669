"""WhatsApp through Twilio, done the way WhatsApp wants it (channels-next.md §3).

- The 24-hour customer-service window: free-form replies only within 24 hours of the
  customer's last message to this sender (an inbox), counted per WhatsApp identity. Outside
  it a free-form reply is refused before anything is queued; an approved template still goes.
- Templates: read from Twilio's Content API (on demand, and by the bus sweep every
  WHATSAPP_TEMPLATES_SYNC_SECONDS), sent with ContentSid + ContentVariables; their rendered text
  is the message's body in the timeline.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.bus.registry import ReplyPlan
from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.core.errors import InvalidInput, ProviderUnavailable, ReplyWindowClosed
from apps.gateways.base import TransientSendError
from apps.gateways.twilio.content import ContentTemplate, content_templates_list
from apps.whatsapp.models import WhatsAppTemplate

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=24)
MAX_VARIABLE_CHARS = 1024
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


# --- the 24-hour window --------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyWindow:
    state: str  # "open", or "closed" (also when the customer never wrote to this sender)
    last_inbound_at: dt.datetime | None
    closes_at: dt.datetime | None

    def data(self, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or timezone.now()
        left = int((self.closes_at - now).total_seconds()) if self.closes_at and self.state == "open" else 0
        return {
            "state": self.state,
            "last_inbound_at": self.last_inbound_at.isoformat() if self.last_inbound_at else None,
            "closes_at": self.closes_at.isoformat() if self.closes_at else None,
            "seconds_left": max(left, 0),
        }


def whatsapp_window(*, identity_id: int, inbox_id: int, now: dt.datetime | None = None) -> ReplyWindow:
    """The window of one WhatsApp identity with one sender, from the customer's last message."""
    now = now or timezone.now()
    last = (
        Message.objects.filter(identity_id=identity_id, inbox_id=inbox_id, direction=Message.Direction.INBOUND)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None:
        return ReplyWindow(state="closed", last_inbound_at=None, closes_at=None)
    closes = last + WINDOW
    return ReplyWindow(state="open" if now < closes else "closed", last_inbound_at=last, closes_at=closes)


def _ago(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(int(delta.total_seconds() // 60), 1)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def window_closed_words(identity: Identity, window: ReplyWindow, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    who = identity.display or identity.address
    if window.last_inbound_at is None or window.closes_at is None:
        since = f"{who} has not written to this WhatsApp number yet"
    else:
        since = f"the customer last wrote {_ago(now - window.last_inbound_at)} ago (the window closed {_ago(now - window.closes_at)} ago)"
    return (
        f"WhatsApp's 24-hour reply window with {who} is closed: {since}. "
        "WhatsApp only takes an approved template now; pick one from the templates."
    )


# --- templates ----------------------------------------------------------------------------

# Where each content type keeps the text the customer reads.
_TEXT_TYPES = ("twilio/text", "twilio/media", "twilio/quick-reply", "twilio/call-to-action", "twilio/list-picker")


def template_text(types: dict[str, Any]) -> str:
    for name in (*_TEXT_TYPES, *types):
        value = types.get(name)
        if isinstance(value, dict):
            text = value.get("body") or value.get("title")
            if isinstance(text, str) and text:
                return text
    return ""


def template_placeholders(template: WhatsAppTemplate) -> list[str]:
    """The variables a send must give: those the template declares and those its text uses."""
    names = set(template.variables or {}) | set(PLACEHOLDER.findall(template.body))
    return sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))


def template_render(template: WhatsAppTemplate, variables: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), template.body)


def _variables_clean(template: WhatsAppTemplate, given: Any) -> dict[str, str]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidInput('`variables` must be an object such as {"1": "Jane"}', code="invalid_template_variables")
    needed = template_placeholders(template)
    unknown = sorted(set(map(str, given)) - set(needed))
    if unknown:
        raise InvalidInput(
            f"the template {template.friendly_name or template.sid} has no variable {', '.join(unknown)}",
            code="invalid_template_variables",
        )
    clean: dict[str, str] = {}
    for name in needed:
        value = given.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                f"the template {template.friendly_name or template.sid} needs a value for {{{{{name}}}}}",
                code="invalid_template_variables",
            )
        if len(value) > MAX_VARIABLE_CHARS:
            raise InvalidInput(
                f"{{{{{name}}}}} is longer than {MAX_VARIABLE_CHARS} characters", code="invalid_template_variables"
            )
        clean[name] = value
    return clean


def whatsapp_reply_check(
    *,
    identity: Identity,
    inbox_id: int,
    body: str,
    template: dict[str, Any] | None,
    files: int = 0,
    options: dict[str, Any] | None = None,
    conversation_id: int | None = None,
) -> ReplyPlan:
    """The WhatsApp rule for a reply, before it is queued (registered for the `whatsapp` kind)."""
    window = whatsapp_window(identity_id=identity.pk, inbox_id=inbox_id)
    if template is None:
        if window.state != "open":
            raise ReplyWindowClosed(window_closed_words(identity, window))
        return ReplyPlan(body=body)
    sid = template.get("sid") if isinstance(template, dict) else None
    chosen = WhatsAppTemplate.objects.filter(sid=sid).first() if isinstance(sid, str) and sid else None
    if chosen is None:
        raise InvalidInput("no such WhatsApp template (sync the templates?)", code="unknown_template")
    if files:
        raise InvalidInput(
            "a template goes alone: WhatsApp takes no files beside it; remove the files", code="template_with_files"
        )
    if window.state != "open" and not chosen.approved:
        raise ReplyWindowClosed(
            f"the template {chosen.friendly_name or chosen.sid} is not approved by WhatsApp "
            f"({chosen.approval or 'not submitted'}); outside the 24-hour window only approved templates go out."
        )
    variables = _variables_clean(chosen, template.get("variables"))
    return ReplyPlan(
        body=template_render(chosen, variables),
        meta={"template": {"sid": chosen.sid, "name": chosen.friendly_name, "variables": variables}},
    )


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    removed: int

    @property
    def count(self) -> int:
        return self.created + self.updated


def _fields(item: ContentTemplate, now: dt.datetime) -> dict[str, Any]:
    return {
        "account_sid": settings.TWILIO_ACCOUNT_SID,
        "friendly_name": item.friendly_name[:255],
        "language": item.language[:20],
        "variables": item.variables,
        "types": item.types,
        "body": template_text(item.types),
        "approval": item.approval[:32],
        "whatsapp_name": item.whatsapp_name[:255],
        "category": item.category[:32],
        "synced_at": now,
    }


def whatsapp_templates_sync() -> SyncResult:
    """Read the account's templates from Twilio and store them; those gone from Twilio go.
    ProviderUnavailable when Twilio cannot be read (what was stored stays)."""
    if not settings.TWILIO_ACCOUNT_SID:
        raise ProviderUnavailable("no Twilio account is configured (TWILIO_ACCOUNT_SID)", code="twilio_not_configured")
    try:
        items = content_templates_list()
    except TransientSendError as exc:
        raise ProviderUnavailable(str(exc), code="templates_unavailable") from exc
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        known = {t.sid: t for t in WhatsAppTemplate.objects.select_for_update()}
        for item in items:
            fields = _fields(item, now)
            if item.sid in known:
                WhatsAppTemplate.objects.filter(pk=known[item.sid].pk).update(**fields)
                updated += 1
            else:
                WhatsAppTemplate.objects.create(sid=item.sid, **fields)
                created += 1
        gone = set(known) - {item.sid for item in items}
        removed = WhatsAppTemplate.objects.filter(sid__in=gone).delete()[0] if gone else 0
    cache.set(_SYNCED_KEY, now.isoformat(), timeout=settings.WHATSAPP_TEMPLATES_SYNC_SECONDS)
    log.info("WhatsApp templates synced: %s new, %s updated, %s removed", created, updated, removed)
    return SyncResult(created=created, updated=updated, removed=removed)


_SYNCED_KEY = "whatsapp:templates:synced"


def whatsapp_templates_sync_due() -> str:
    """The bus sweep's turn: sync when the last sync is older than WHATSAPP_TEMPLATES_SYNC_SECONDS
    (one process per period: the cache key is taken with add)."""
    if not settings.TWILIO_ACCOUNT_SID:
        return "no account"
    if not cache.add(_SYNCED_KEY, "claimed", timeout=settings.WHATSAPP_TEMPLATES_SYNC_SECONDS):
        return "not due"
    try:
        result = whatsapp_templates_sync()
    except ProviderUnavailable as exc:
        cache.delete(_SYNCED_KEY)  # try again next round
        log.warning("WhatsApp templates not synced: %s", exc.message)
        return "failed"
    return f"synced {result.count}"


def whatsapp_templates() -> list[WhatsAppTemplate]:
    return list(WhatsAppTemplate.objects.all())


def template_data(template: WhatsAppTemplate) -> dict[str, Any]:
    return {
        "sid": template.sid,
        "name": template.friendly_name,
        "language": template.language,
        "body": template.body,
        "variables": [
            {"name": name, "sample": str((template.variables or {}).get(name, ""))}
            for name in template_placeholders(template)
        ],
        "approval": template.approval,
        "approved": template.approved,
        "category": template.category,
        "synced_at": template.synced_at.isoformat(),
    }


def conversation_whatsapp_window(*, conversation: Any, identity_id: int | None = None) -> dict[str, Any]:
    """The window a reply in this conversation meets: on the chosen identity, or (as a reply
    does by default) the one the customer last wrote from. `window` is None when that identity
    is not WhatsApp."""
    identities = Identity.objects.filter(contact_id=conversation.contact_id)
    if identity_id is not None:
        identity = identities.filter(pk=identity_id).first()
        if identity is None:
            raise InvalidInput("that identity does not belong to this conversation's contact", code="invalid_identity")
    else:
        identity = (
            identities.filter(pk=conversation.last_identity_id).first() if conversation.last_identity_id else None
        )
    if identity is None or identity.kind != Identity.Kind.WHATSAPP:
        return {
            "identity": identity.pk if identity else None,
            "channel": identity.kind if identity else None,
            "window": None,
        }
    window = whatsapp_window(identity_id=identity.pk, inbox_id=conversation.inbox_id)
    return {"identity": identity.pk, "channel": identity.kind, "window": window.data()}
