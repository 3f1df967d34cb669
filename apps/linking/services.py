"""Linking a social account to a customer's contact, proven by a one-time code.

1. An agent (or the signed-in customer) starts a link for a contact: `link_start` issues a code
   (8 characters, `LINK_CODE_TTL_SECONDS`, single use, stored hashed) and cancels the contact's
   older pending code of that kind. At most `LINK_STARTS_PER_HOUR` per contact.
2. The customer sends the code **privately** (a Mastodon direct status) to the desk account.
3. The channel's receiver hands the stored message to `link_redeem`: a good code binds the
   sender's identity (its stable id, not its handle) to the contact by the usual verified-only
   merge, recorded so it can be undone. A code posted publicly is refused and cancelled (anyone
   could have read it) and the message is flagged. Failed codes are limited per sending account
   (`LINK_FAILURES_PER_HOUR`) so that codes cannot be guessed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.contacts.models import Contact, Identity
from apps.contacts.services import contact_merge, emit_contact_updated
from apps.conversations.events import emit_message
from apps.conversations.models import Conversation, Message
from apps.conversations.services.timeline import activity_add
from apps.core.errors import Conflict, DomainError, InvalidInput, NotFound
from apps.linking.models import LinkAttempt, LinkCode

# Social identity kinds an account can be linked from (each with its own private channel).
LINKABLE_KINDS: dict[str, str] = {Identity.Kind.MASTODON.value: "Mastodon"}
# No 0/O, 1/I/L: a code read aloud or copied by hand survives.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_RE = re.compile(r"(?<![A-Za-z0-9])LINK-([A-Za-z0-9]{4})-?([A-Za-z0-9]{4})(?![A-Za-z0-9])", re.IGNORECASE)


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


def _hash(code: str) -> str:
    """Of the 8 characters, however the code was written (LINK-ABCD-EFGH, abcdefgh)."""
    raw = code.upper().replace("-", "").removeprefix("LINK")
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


def _pretty(raw: str) -> str:
    return f"LINK-{raw[:4]}-{raw[4:]}"


def codes_in(text: str) -> list[str]:
    """The link codes written in a message (normalised, as issued)."""
    return [_pretty((a + b).upper()) for a, b in CODE_RE.findall(text or "")]


def _top(contact_id: int) -> Contact | None:
    """The contact, or the one it was merged into (merges can chain)."""
    seen: set[int] = set()
    contact = Contact.objects.filter(pk=contact_id).first()
    while contact is not None and contact.merged_into_id and contact.pk not in seen:
        seen.add(contact.pk)
        contact = Contact.objects.filter(pk=contact.merged_into_id).first()
    return contact


@dataclass(frozen=True)
class IssuedCode:
    link: LinkCode
    code: str  # shown once; only its hash is kept


@transaction.atomic
def link_start(*, contact_id: int, kind: str = Identity.Kind.MASTODON, by: Any = None) -> IssuedCode:
    if kind not in LINKABLE_KINDS:
        raise InvalidInput(f"accounts of kind {kind!r} cannot be linked", code="invalid_kind")
    contact = Contact.objects.select_for_update(no_key=True).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound("no such contact")
    if contact.merged_into_id:
        raise Conflict("this contact was merged into another; link from that one", code="already_merged")
    if not Identity.objects.filter(contact=contact, verified=True).exists():
        # The link ends in a merge, and merges need a verified identity on both sides.
        raise Conflict(
            "this contact has no verified identity (a phone, an email, a signed-in site user) to link to",
            code="unverified_identity",
        )
    now = timezone.now()
    recent = LinkCode.objects.filter(contact=contact, created_at__gte=now - dt.timedelta(hours=1)).count()
    if recent >= settings.LINK_STARTS_PER_HOUR:
        raise RateLimited(f"{recent} link codes were issued for this contact in the last hour; try again later")
    LinkCode.objects.filter(contact=contact, kind=kind, state=LinkCode.State.PENDING).update(
        state=LinkCode.State.CANCELLED
    )
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    link = LinkCode.objects.create(
        contact=contact,
        kind=kind,
        code_hash=_hash(raw),
        created_by=by if getattr(by, "pk", None) else None,
        expires_at=now + dt.timedelta(seconds=settings.LINK_CODE_TTL_SECONDS),
    )
    return IssuedCode(link=link, code=_pretty(raw))


def _note(conversation_id: int, text: str, meta: dict[str, Any]) -> Message:
    """An activity in the conversation's timeline, told to the consoles."""
    conversation = Conversation.objects.select_for_update(no_key=True).get(pk=conversation_id)
    activity = activity_add(conversation, text, now=timezone.now(), meta={"link": meta})
    conversation.save(update_fields=["last_seq"])
    emit_message(activity)
    return activity


@dataclass(frozen=True)
class Redeemed:
    outcome: str  # "linked", "already_linked", "public", "invalid", "throttled", "none"
    link: LinkCode | None = None


def link_redeem(*, message: Message, identity: Identity, private: bool) -> Redeemed:
    """What a code in a stored inbound message does (inside the receiving transaction)."""
    codes = codes_in(message.body)
    if not codes:
        return Redeemed("none")
    now = timezone.now()
    hashes = [_hash(code) for code in codes]
    if not private:
        exposed = list(LinkCode.objects.select_for_update().filter(code_hash__in=hashes, state=LinkCode.State.PENDING))
        for code in exposed:
            code.state = LinkCode.State.EXPOSED
            code.message_id = message.pk
            code.save(update_fields=["state", "message_id"])
        _note(
            message.conversation_id,
            "A link code was posted publicly, where anyone can read it: it was not accepted"
            + (" and has been cancelled" if exposed else "")
            + ". Ask the customer to send a new code as a direct (private) message.",
            {"outcome": "public", "message": message.pk},
        )
        return Redeemed("public", exposed[0] if exposed else None)
    failures = LinkAttempt.objects.filter(
        kind=identity.kind, address=identity.address, ok=False, at__gte=now - dt.timedelta(hours=1)
    ).count()
    if failures >= settings.LINK_FAILURES_PER_HOUR:
        _note(
            message.conversation_id,
            "A link code was not checked: this account sent too many wrong codes in the last hour.",
            {"outcome": "throttled", "message": message.pk},
        )
        return Redeemed("throttled")
    link = (
        LinkCode.objects.select_for_update()
        .filter(code_hash__in=hashes, kind=identity.kind, state=LinkCode.State.PENDING, expires_at__gt=now)
        .order_by("-created_at")
        .first()
    )
    LinkAttempt.objects.create(kind=identity.kind, address=identity.address, ok=link is not None)
    if link is None:
        _note(
            message.conversation_id,
            "The link code in this message is not valid (mistyped, expired or already used); nothing was linked.",
            {"outcome": "invalid", "message": message.pk},
        )
        return Redeemed("invalid")
    target = _top(link.contact_id)
    if target is None:
        return Redeemed("invalid")
    link.state = LinkCode.State.USED
    link.used_at = now
    link.identity = identity
    link.message_id = message.pk
    if identity.contact_id == target.pk:
        link.save(update_fields=["state", "used_at", "identity", "message_id"])
        _note(
            message.conversation_id,
            f"{identity.display or identity.address} was already linked to this customer; the code is used up.",
            {"outcome": "already_linked", "code": link.pk},
        )
        return Redeemed("already_linked", link)
    if not identity.verified:
        identity.verified = True
        identity.save(update_fields=["verified"])
    try:
        with transaction.atomic():
            merge = contact_merge(survivor_id=target.pk, merged_id=identity.contact_id, by=link.created_by)
    except DomainError as exc:
        # The message is kept whatever happens here; the code stays usable once this is fixed.
        link.refresh_from_db()
        _note(
            message.conversation_id,
            f"A valid link code came, but the accounts could not be joined: {exc.message}",
            {"outcome": "merge_refused", "code": link.pk},
        )
        return Redeemed("merge_refused", link)
    link.merge = merge
    link.save(update_fields=["state", "used_at", "identity", "message_id", "merge"])
    _note(
        message.conversation_id,
        f"{identity.display or identity.address} proved it belongs to {target.name or f'contact {target.pk}'} "
        "with a one-time code: linked, and the timelines joined (undo from the contact panel).",
        {"outcome": "linked", "code": link.pk, "merge": merge.pk, "contact": target.pk},
    )
    emit_contact_updated(target, ["identities"])
    return Redeemed("linked", link)


def identity_update_display(*, identity: Identity, display: str) -> bool:
    """A handle changed (same stable id): the identity shows the new one."""
    if not display or identity.display == display:
        return False
    identity.display = display
    identity.save(update_fields=["display"])
    emit_contact_updated(identity.contact, ["identities"])
    return True


def known_customer(*, identity: Identity) -> bool:
    """Whether the account is linked to a customer known by another verified identity."""
    return (
        Identity.objects.filter(contact_id=identity.contact_id, verified=True)
        .exclude(kind__in=list(LINKABLE_KINDS))
        .exists()
    )
