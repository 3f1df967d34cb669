"""Visitor sessions: a token per visitor, the contact a signed-in user belongs to, the email a visitor leaves."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.contacts.models import Contact, Identity
from apps.core.locks import NAMESPACE_IDENTITY, xact_lock
from apps.widget.context import visitor_context_clean, visitor_label
from apps.widget.models import Visitor
from apps.widget.services.common import (
    NAME_MAX,
    TOKEN_BYTES,
    USER_ID_MAX,
    WidgetError,
    _clean_str,
    email_normalize,
    inbox_for_key,
    message_rate_check,
    token_hash,
    user_hash_valid,
    widget_settings_for,
)

log = logging.getLogger("apps.widget.services")

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
