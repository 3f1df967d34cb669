from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.bus.events import EventType, events_append
from apps.contacts.models import Contact, ContactMerge, Identity
from apps.contacts.selectors import contact_inbox_ids
from apps.conversations.events import conversation_data
from apps.conversations.models import Conversation
from apps.core import rawsql
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.core.locks import NAMESPACE_IDENTITY, xact_lock, xact_locks, xact_locks_statement

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


@dataclass(frozen=True)
class Sender:
    """An address a message came from, as `identity_resolve` takes it (verified)."""

    kind: str
    address: str
    display: str = ""
    name: str = ""


def identities_resolve_verified(
    senders: Iterable[Sender], *, created_contacts: set[int] | None = None
) -> dict[tuple[str, str], Identity]:
    """`identity_resolve(..., verified=True)` for many senders at once (a bus batch's new
    customers): the identity locks taken together in one order, one read, and the new contacts
    and identities written with one INSERT each instead of a handful of statements per sender.
    Returns {(kind, address): identity}. Concurrency as identity_resolve: the locks and the
    (kind, address) constraint decide; if another transaction wrote one of these identities
    meanwhile, each sender is resolved on its own instead.

    `created_contacts`, when given, gets the ids of the contacts written here: rows no other
    transaction can see before commit, so they need no lock and have no conversations yet."""
    wanted: dict[tuple[str, str], Sender] = {}
    for sender in senders:
        wanted.setdefault((sender.kind, sender.address), sender)
    if not wanted:
        return {}
    names = sorted({address for _, address in wanted})
    kinds = {kind for kind, _ in wanted} | {SIBLING_KINDS[k] for k, _ in wanted if k in SIBLING_KINDS}  # type: ignore[index]
    if rawsql.supported():
        # The locks and the read in one round trip; the read's snapshot is taken once the locks
        # are granted, as when sent one after the other.
        _, rows = rawsql.run(
            [xact_locks_statement(NAMESPACE_IDENTITY, names), (_identities_sql(), [list(kinds), names])]
        )
        found = {
            (i.kind, i.address): i for i in rawsql.instances_joined(Identity, Contact, "contact", rows, ("t", "c"))
        }
    else:
        xact_locks(NAMESPACE_IDENTITY, names)
        found = {
            (i.kind, i.address): i
            for i in Identity.objects.select_related("contact").filter(kind__in=kinds, address__in=names)
        }
    resolved: dict[tuple[str, str], Identity] = {}
    fresh: list[tuple[Sender, Contact | None]] = []  # None: a new contact
    for key, sender in wanted.items():
        identity = found.get(key)
        if identity is not None:
            resolved[key] = identity
            continue
        sibling_kind = SIBLING_KINDS.get(sender.kind)  # type: ignore[call-overload]
        sibling = found.get((sibling_kind, sender.address)) if sibling_kind else None
        fresh.append((sender, sibling.contact if sibling is not None else None))
    unverified = [i for i in resolved.values() if not i.verified]
    if unverified:
        Identity.objects.filter(pk__in=[i.pk for i in unverified]).update(verified=True)
        for identity in unverified:
            identity.verified = True
    if fresh and len(fresh) == 1 and fresh[0][1] is None and connection.vendor == "postgresql":
        # One new customer (every message at light load): one statement instead of four.
        one = _new_customer_create(fresh[0][0])
        if one is None:  # written meanwhile by a path that takes no lock
            _one_by_one(fresh, resolved)
        else:
            resolved[(one.kind, one.address)] = one
            if created_contacts is not None:
                created_contacts.add(one.contact_id)
    elif fresh:
        try:
            with transaction.atomic():
                made, new_contact_ids = _identities_create(fresh)
            resolved.update(made)
            if created_contacts is not None:
                created_contacts.update(new_contact_ids)
        except IntegrityError:  # written meanwhile by a path that takes no lock: one by one
            _one_by_one(fresh, resolved)
    for (kind, address), identity in resolved.items():
        name = wanted[(kind, address)].name
        if name and not identity.contact.name:
            identity.contact.name = name
            identity.contact.save(update_fields=["name"])
    return resolved


_IDENTITIES_SQL: str | None = None


def _identities_sql() -> str:
    """Identities with their contacts (`select_related("contact")`) by kinds and addresses."""
    global _IDENTITIES_SQL
    if _IDENTITIES_SQL is None:
        _IDENTITIES_SQL = (
            f"SELECT {rawsql.columns_sql(Identity, 't')}, {rawsql.columns_sql(Contact, 'c')}"
            f" FROM {rawsql.qn(Identity._meta.db_table)} t"
            f" JOIN {rawsql.qn(Contact._meta.db_table)} c ON c.id = t.contact_id"
            " WHERE t.kind = ANY(%s::text[]) AND t.address = ANY(%s::text[])"
        )
    return _IDENTITIES_SQL


def _one_by_one(fresh: list[tuple[Sender, Contact | None]], resolved: dict[tuple[str, str], Identity]) -> None:
    for sender, _ in fresh:
        resolved[(sender.kind, sender.address)] = identity_resolve(
            kind=sender.kind, address=sender.address, display=sender.display, verified=True, name=sender.name
        )


def _new_customer_create(sender: Sender) -> Identity | None:
    """A new customer's contact and verified identity in one statement (PostgreSQL), where
    `_identities_create` pays a savepoint, two INSERTs and the savepoint's release. None when the
    identity was written meanwhile by a path that takes no lock (ON CONFLICT: no identity row;
    the contact written for it is deleted again)."""
    contact = Contact(name=sender.name)
    identity = Identity(
        kind=sender.kind, address=sender.address, display=sender.display or sender.address, verified=True
    )
    if not rawsql.insert_pair(contact, identity, "contact", child_unless_conflict=True):
        Contact.objects.filter(pk=contact.pk).delete()
        return None
    return identity


def _identities_create(
    fresh: list[tuple[Sender, Contact | None]],
) -> tuple[dict[tuple[str, str], Identity], set[int]]:
    """Write the new identities, and a contact for each that has none: (identities, new contact ids)."""
    new_contacts = [Contact(name=sender.name) for sender, contact in fresh if contact is None]
    if connection.features.can_return_rows_from_bulk_insert:
        Contact.objects.bulk_create(new_contacts)
    else:
        for contact in new_contacts:
            contact.save(force_insert=True)
    made = iter(new_contacts)
    identities = [
        Identity(
            contact=contact if contact is not None else next(made),
            kind=sender.kind,
            address=sender.address,
            display=sender.display or sender.address,
            verified=True,
        )
        for sender, contact in fresh
    ]
    if connection.features.can_return_rows_from_bulk_insert:
        Identity.objects.bulk_create(identities)
    else:
        for identity in identities:
            identity.save(force_insert=True)
    return {(i.kind, i.address): i for i in identities}, {c.pk for c in new_contacts}


def identity_attach(*, contact_id: int, kind: str, address: str, label: str = "") -> tuple[Identity, bool]:
    """Attach an address someone vouches for by hand (an agent, an admin) to a contact, unverified.

    The caller validates and normalises `address`. An address another contact already has is
    refused (409 `identity_taken`: merge the two contacts instead); one this contact has is
    returned as it is. Returns (identity, created)."""
    shown = label or address
    with transaction.atomic():
        xact_lock(NAMESPACE_IDENTITY, f"{kind}:{address}")
        contact = Contact.objects.select_for_update(no_key=True).filter(pk=contact_id, merged_into=None).first()
        if contact is None:
            raise NotFound("no such contact")
        existing = Identity.objects.filter(kind=kind, address=address).first()
        if existing is not None:
            if existing.contact_id != contact.pk:
                raise Conflict(
                    f"{shown} belongs to another contact; merge the two contacts instead", code="identity_taken"
                )
            return existing, False
        try:
            with transaction.atomic():
                identity = Identity.objects.create(
                    contact=contact, kind=kind, address=address, display=address, verified=False
                )
        except IntegrityError:
            raise Conflict(f"{shown} was just added to a contact", code="identity_taken") from None
        emit_contact_updated(contact, ["identities"])
    return identity, True


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


# --- editing, merging --------------------------------------------------------------------

CONTACT_NAME_MAX = 200
CONTACT_NOTES_MAX = 10_000


def contact_data(contact: Contact) -> dict[str, Any]:
    return {"id": contact.pk, "name": contact.name, "notes": contact.notes, "merged_into": contact.merged_into_id}


def emit_contact_updated(contact: Contact, changes: list[str]) -> None:
    """contact.updated to every inbox where the contact has conversations (inside the transaction)."""
    data = dict(contact_data(contact), changes=changes)
    events_append(
        [dict(type=EventType.CONTACT_UPDATED, data=data, inbox_id=i) for i in contact_inbox_ids(contact_id=contact.pk)]
    )


@transaction.atomic
def contact_update(*, contact_id: int, name: str | None = None, notes: str | None = None) -> Contact:
    """Edit a contact's name or notes; the consoles that show the contact are told."""
    contact = Contact.objects.select_for_update(no_key=True).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound("no such contact")
    changes: list[str] = []
    if name is not None:
        name = " ".join(name.split())
        if len(name) > CONTACT_NAME_MAX:
            raise InvalidInput(f"a name is at most {CONTACT_NAME_MAX} characters", code="invalid_name")
        if name != contact.name:
            contact.name = name
            changes.append("name")
    if notes is not None:
        if len(notes) > CONTACT_NOTES_MAX:
            raise InvalidInput(f"notes are at most {CONTACT_NOTES_MAX} characters", code="invalid_notes")
        if notes != contact.notes:
            contact.notes = notes
            changes.append("notes")
    if changes:
        contact.save(update_fields=changes)
        emit_contact_updated(contact, changes)
    return contact


def _emit_conversations_moved(conversation_ids: list[int]) -> None:

    conversations = Conversation.objects.filter(pk__in=conversation_ids).order_by("id")
    events_append(
        [
            dict(
                type=EventType.CONVERSATION_UPDATED,
                data=dict(conversation_data(c), changes=["contact"]),
                conversation_id=c.pk,
                inbox_id=c.inbox_id,
            )
            for c in conversations
        ]
    )


def _lock_contacts(*ids: int) -> dict[int, Contact]:
    # Always in id order, so that two merges of the same pair cannot deadlock.
    return {c.pk: c for c in Contact.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("id")}


@transaction.atomic
def contact_merge(*, survivor_id: int, merged_id: int, by: Any = None) -> ContactMerge:
    """Move `merged`'s identities and conversations to `survivor`, recorded so it can be undone.

    Only people proven to be who they are get merged: both contacts need a verified identity
    (an address a channel vouched for, never one a visitor typed).
    """

    if survivor_id == merged_id:
        raise InvalidInput("a contact cannot be merged into itself", code="invalid_merge")
    contacts = _lock_contacts(survivor_id, merged_id)
    survivor, merged = contacts.get(survivor_id), contacts.get(merged_id)
    if survivor is None or merged is None:
        raise NotFound("no such contact")
    if survivor.merged_into_id or merged.merged_into_id:
        raise Conflict("one of these contacts has already been merged into another", code="already_merged")
    verified = set(
        Identity.objects.filter(contact_id__in=[survivor_id, merged_id], verified=True).values_list(
            "contact_id", flat=True
        )
    )
    if verified != {survivor_id, merged_id}:
        raise Conflict("both contacts need at least one verified identity to be merged", code="unverified_identity")
    identity_ids = sorted(Identity.objects.filter(contact_id=merged_id).values_list("id", flat=True))
    conversation_ids = sorted(Conversation.objects.filter(contact_id=merged_id).values_list("id", flat=True))
    Identity.objects.filter(pk__in=identity_ids).update(contact_id=survivor_id)
    Conversation.objects.filter(pk__in=conversation_ids).update(contact_id=survivor_id)
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into"])
    merge = ContactMerge.objects.create(
        survivor=survivor,
        merged=merged,
        identity_ids=identity_ids,
        conversation_ids=conversation_ids,
        merged_by=by,
    )
    # The merged contact's agents learn where it went before its conversations move on.
    events_append(
        [
            dict(type=EventType.CONTACT_UPDATED, data=dict(contact_data(merged), changes=["merged_into"]), inbox_id=i)
            for i in sorted({*contact_inbox_ids(contact_id=survivor_id)})
        ]
    )
    emit_contact_updated(survivor, ["identities", "conversations"])
    _emit_conversations_moved(conversation_ids)
    return merge


@transaction.atomic
def contact_unmerge(*, merge_id: int, by: Any = None) -> ContactMerge:
    """Undo a merge: exactly the identities and conversations it moved go back."""

    merge = ContactMerge.objects.select_for_update(no_key=True).filter(pk=merge_id).first()
    if merge is None:
        raise NotFound("no such merge")
    if merge.undone_at is not None:
        raise Conflict("this merge has already been undone", code="already_undone")
    contacts = _lock_contacts(merge.survivor_id, merge.merged_id)
    survivor, merged = contacts[merge.survivor_id], contacts[merge.merged_id]
    Identity.objects.filter(pk__in=merge.identity_ids, contact_id=survivor.pk).update(contact_id=merged.pk)
    Conversation.objects.filter(pk__in=merge.conversation_ids, contact_id=survivor.pk).update(contact_id=merged.pk)
    merged.merged_into = None
    merged.save(update_fields=["merged_into"])
    merge.undone_at = timezone.now()
    merge.save(update_fields=["undone_at"])
    emit_contact_updated(survivor, ["identities", "conversations"])
    emit_contact_updated(merged, ["merged_into", "identities", "conversations"])
    _emit_conversations_moved(list(merge.conversation_ids))
    return merge
