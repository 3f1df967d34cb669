"""Reads about contacts."""

from __future__ import annotations

from apps.conversations.models import Conversation


def contact_inbox_ids(*, contact_id: int) -> list[int]:
    """The inboxes where the contact has conversations: whose agents may see the contact."""

    return sorted(set(Conversation.objects.filter(contact_id=contact_id).values_list("inbox_id", flat=True)))
