from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.contacts.models import Contact, Identity
from apps.core.locks import NAMESPACE_IDENTITY, xact_lock

# Phone-number identities that are the same person when the number matches.
SIBLING_KINDS = {Identity.Kind.PHONE: Identity.Kind.WHATSAPP, Identity.Kind.WHATSAPP: Identity.Kind.PHONE}


def identity_resolve(*, kind: str, address: str, display: str = "", verified: bool = False, name: str = "") -> Identity:
    """The identity for an address, created with a new contact (or its sibling's) if unseen.

    Safe under concurrency: the (kind, address) unique constraint decides which of two
    concurrent first messages creates the row; the other reads it. A phone number's SMS and
    WhatsApp identities are different rows, so a lock on the number makes a first WhatsApp
    message wait for a concurrent first SMS (and find its contact) rather than open a second
    contact for the same person.
    """
    if kind in SIBLING_KINDS and transaction.get_connection().in_atomic_block:
        xact_lock(NAMESPACE_IDENTITY, address)
    identity = Identity.objects.select_related("contact").filter(kind=kind, address=address).first()
    if identity is not None:
        if verified and not identity.verified:
            identity.verified = True
            identity.save(update_fields=["verified"])
        return identity
    sibling_kind = SIBLING_KINDS.get(kind)  # type: ignore[call-overload]
    sibling = (
        Identity.objects.select_related("contact").filter(kind=sibling_kind, address=address).first()
        if sibling_kind
        else None
    )
    try:
        with transaction.atomic():
            contact = sibling.contact if sibling else Contact.objects.create(name=name)
            identity = Identity.objects.create(
                contact=contact,
                kind=kind,
                address=address,
                display=display or address,
                verified=verified,
            )
    except IntegrityError:
        identity = Identity.objects.select_related("contact").get(kind=kind, address=address)
    if name and not identity.contact.name:
        identity.contact.name = name
        identity.contact.save(update_fields=["name"])
    return identity


def identity_set_opt_out(*, identity: Identity, opted_out: bool) -> bool:
    """Record STOP/START. Returns True when it changed anything.

    A STOP on a number covers its SMS and WhatsApp identities alike: it is one person's consent.
    """
    now = timezone.now()
    addresses = (
        Identity.objects.filter(address=identity.address, kind__in=[Identity.Kind.PHONE, Identity.Kind.WHATSAPP])
        if identity.kind in SIBLING_KINDS
        else Identity.objects.filter(pk=identity.pk)
    )
    changed = addresses.exclude(opted_out=opted_out).update(
        opted_out=opted_out, opted_out_at=now if opted_out else None
    )
    identity.opted_out = opted_out
    identity.opted_out_at = now if opted_out else None
    return changed > 0
