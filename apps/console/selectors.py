"""Reads the console socket needs (called through database_sync_to_async)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Max

from apps.bus.events import events_visible_q, events_visible_since
from apps.bus.models import Event
from apps.conversations.models import Conversation


def agent_inbox_ids(*, agent_id: int) -> list[int]:
    from apps.accounts.models import Inbox

    return list(Inbox.objects.filter(members=agent_id).values_list("id", flat=True))


def newest_visible_event_id(*, agent_id: int, inbox_ids: list[int]) -> int:
    newest = Event.objects.filter(events_visible_q(agent_id=agent_id, inbox_ids=inbox_ids)).aggregate(m=Max("id"))["m"]
    return newest or 0


def events_for_replay(*, agent_id: int, inbox_ids: list[int], since: int) -> tuple[list[dict], bool]:
    """Visible events after `since`, in order; (frames, too_old). too_old: resync over REST."""
    oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
    if oldest is not None and since < oldest - 1:
        # Events after `since` may have been pruned: the gap cannot be replayed exactly.
        return [], True
    limit = settings.EVENT_REPLAY_LIMIT
    rows = list(events_visible_since(agent_id=agent_id, inbox_ids=inbox_ids, since=since)[: limit + 1])
    if len(rows) > limit:
        return [], True
    if not rows and since > 0:
        newest = Event.objects.aggregate(m=Max("id"))["m"] or 0
        if since > newest:
            return [], True  # the client knows ids this server never issued: refetch state
    return [e.as_frame() for e in rows], False


def conversation_visible(*, agent_id: int, conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id, inbox__members=agent_id).exists()
