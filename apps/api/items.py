"""The hot read paths' JSON, built as plain dicts (issue 14).

A list page spent about three times as long in DRF serializers and Django's per-row prefetch
querysets as in SQL. These builders read the related rows with one `values_list` query each and
write the same shapes as ConversationSerializer and MessageSerializer (which stay the schema;
tests/api compare both).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from apps.contacts.models import Contact, Identity
from apps.conversations.models import Attachment, Conversation, Label, Message
from apps.sla.events import sla_row_data


def _dt(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str | None:
    """As DRF's DateTimeField writes it: in the current time zone, ISO 8601, 'Z' for UTC. A UTC
    time (the database's, in the project's time zone) is written by orjson, the same text in 0.7
    instead of 1.8 µs (a list page has ~250 of them)."""
    if value is None:
        return None
    zone = zone or timezone.get_current_timezone()
    if zone is _UTC or getattr(zone, "key", None) == "UTC":  # Django's UTC is ZoneInfo("UTC")
        if value.tzinfo is not _UTC:
            value = value.astimezone(_UTC)
        return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_UTC = dt.UTC


# The two reads of every list page as SQL of their own: built by the ORM, compiling them was about
# a tenth of a page's CPU (issue 14). `{ids}` is a list of placeholders (see _in).
_IDENTITIES_SQL = (
    f"SELECT contact_id, id, kind, address, display, verified, opted_out FROM {Identity._meta.db_table}"
    " WHERE contact_id IN ({ids}) ORDER BY id"
)
_LABELS_SQL = (
    f"SELECT cl.conversation_id, l.name FROM {Conversation.labels.through._meta.db_table} cl"
    f" JOIN {Label._meta.db_table} l ON l.id = cl.label_id WHERE cl.conversation_id IN ({{ids}})"
)


def _in(sql: str, ids: set[int]) -> tuple[str, list[int]]:
    """`sql` with its `{ids}` as one placeholder per id (PostgreSQL and SQLite alike), and the ids."""
    values = sorted(ids)
    return sql.format(ids=", ".join(["%s"] * len(values))), values


def _identities_of(cursor: Any, contact_ids: set[int]) -> dict[int, list[dict[str, Any]]]:
    """The identities of these contacts as ItemIdentitySerializer writes them, by contact, in id
    order: one query."""
    identities: dict[int, list[dict[str, Any]]] = defaultdict(list)
    cursor.execute(*_in(_IDENTITIES_SQL, contact_ids))
    for contact_id, pk, kind, address, display, verified, opted_out in cursor.fetchall():
        identities[contact_id].append(
            {
                "id": pk,
                "kind": kind,
                "address": address,
                "display": display,
                "verified": bool(verified),
                "opted_out": bool(opted_out),
            }
        )
    return identities


def contact_items_data(contacts: list[Contact]) -> list[dict[str, Any]]:
    """Contacts as ItemContactSerializer writes them (id, name, identities), their identities
    read with one query: the contact search's answer. Prefetching them instead built a queryset
    per contact and model instances, about a third of a search's CPU."""
    if not contacts:
        return []
    with connection.cursor() as cursor:
        identities = _identities_of(cursor, {c.pk for c in contacts})
    return [{"id": c.pk, "name": c.name, "identities": identities.get(c.pk, [])} for c in contacts]


def conversation_items_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of selectors.conversation_item_rows (dicts: the conversation's columns, its contact's
    name, its clock's and `unread`), with their contacts' identities and their labels: two
    queries for any number of rows."""
    if not rows:
        return []
    labels: dict[int, list[str]] = defaultdict(list)
    with connection.cursor() as cursor:
        identities = _identities_of(cursor, {r["contact_id"] for r in rows})
        cursor.execute(*_in(_LABELS_SQL, {r["id"] for r in rows}))
        for conversation_id, name in cursor.fetchall():
            labels[conversation_id].append(name)
    zone = timezone.get_current_timezone()
    return [
        {
            "id": r["id"],
            "inbox": r["inbox_id"],
            "contact": {
                "id": r["contact_id"],
                "name": r["contact__name"],
                "identities": identities.get(r["contact_id"], []),
            },
            "status": r["status"],
            "assignee": r["assignee_id"],
            "team": r["team_id"],
            "priority": r["priority"],
            "labels": sorted(labels.get(r["id"], [])),
            "last_activity_at": _dt(r["last_activity_at"], zone),
            "waiting_since": _dt(r["waiting_since"], zone),
            "snoozed_until": _dt(r["snoozed_until"], zone),
            "last_seq": r["last_seq"],
            "unread": int(r["unread"] or 0),
            "last_message": r["last_message"],
            "created_at": _dt(r["created_at"], zone),
            "noise": r["noise"],
            "triage_reason": r["triage_reason"],
            "sla": sla_row_data(r, prefix="sla__"),
        }
        for r in rows
    ]


def messages_data(rows: list[Message]) -> list[dict[str, Any]]:
    """Messages as MessageSerializer writes them, their attachments read with one query."""
    if not rows:
        return []
    attachments: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for message_id, pk, filename, content_type, size, file, error in (
        Attachment.objects.filter(message_id__in=[m.pk for m in rows])
        .order_by("id")
        .values_list("message_id", "id", "filename", "content_type", "size", "file", "error")
    ):
        attachments[message_id].append(
            {
                "id": pk,
                "filename": filename,
                "content_type": content_type,
                "size": size,
                "url": f"/api/v1/attachments/{pk}" if file else None,
                "error": error,
            }
        )
    return [
        {
            "id": m.pk,
            "conversation": m.conversation_id,
            "seq": m.seq,
            "direction": m.direction,
            "kind": m.kind,
            "channel": m.channel,
            "identity": m.identity_id,
            "sender": m.sender_id,
            "body": m.body,
            "status": m.status,
            "error_code": m.error_code,
            "error_message": m.error_message,
            "client_id": m.client_id,
            "created_at": _dt(m.created_at),
            "attachments": attachments.get(m.pk, []),
            "meta": m.meta,
        }
        for m in rows
    ]
