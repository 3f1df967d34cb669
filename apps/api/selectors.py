"""Reads behind the API, scoped to what the agent may see (their inboxes)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from apps.accounts.models import Agent
from apps.contacts.models import Contact
from apps.conversations.models import Conversation, Message


def conversations_visible(*, agent: Agent) -> QuerySet[Conversation]:
    return Conversation.objects.filter(inbox__members=agent)


def conversation_list(
    *,
    agent: Agent,
    status: str | None = None,
    inbox_id: int | None = None,
    assignee: str | None = None,
    before: tuple[dt.datetime, int] | None = None,
    limit: int = 50,
) -> list[Conversation]:
    """Newest activity first, keyset-paginated on (last_activity_at, id)."""
    qs = conversations_visible(agent=agent).select_related("contact")
    if status:
        qs = qs.filter(status=status)
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if assignee == "me":
        qs = qs.filter(assignee=agent)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee and assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if before:
        at, pk = before
        qs = qs.filter(Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=pk))
    return list(qs.prefetch_related("contact__identities").order_by("-last_activity_at", "-id")[:limit])


def contacts_visible(*, agent: Agent) -> QuerySet[Contact]:
    return Contact.objects.filter(conversations__inbox__members=agent).distinct()


def contact_timeline(*, agent: Agent, contact_id: int, after: int | None = None, limit: int = 200) -> list[Message]:
    """Every message of the contact across conversations and channels, oldest first.

    Keyset-paginated: `after` is the id of the last message of the previous page.
    """
    qs = Message.objects.filter(conversation__contact_id=contact_id, conversation__inbox__members=agent)
    if after:
        anchor = Message.objects.filter(pk=after).values_list("created_at", flat=True).first()
        if anchor is not None:
            qs = qs.filter(Q(created_at__gt=anchor) | Q(created_at=anchor, id__gt=after))
    return list(qs.prefetch_related("attachments").order_by("created_at", "id")[:limit])
