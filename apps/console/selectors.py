"""Reads the console socket needs (called through database_sync_to_async)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max

from apps.accounts.models import Agent
from apps.accounts.permissions import inboxes_visible
from apps.bus.events import events_visible_since
from apps.bus.models import Event, event_frame
from apps.conversations.models import Conversation


def agent_inbox_ids(*, agent_id: int) -> list[int]:
    """The inboxes the agent sees (members; supervisors also their teams' inboxes)."""
    return list(inboxes_visible(agent_id).order_by("id").values_list("id", flat=True))


def agent_access(*, agent_id: int) -> tuple[bool, list[int]]:
    """(the account is active, the inboxes the agent is a member of)."""

    if not Agent.objects.filter(pk=agent_id, is_active=True).exists():
        return False, []
    return True, agent_inbox_ids(agent_id=agent_id)


def event_position() -> int:
    """The newest event id in the log (0 when it is empty).

    Event ids become readable in id order (see apps.bus.events), so once this read returns N
    every event up to N can be read. A client's position is this global id, not the newest id
    it may see: a position that only moved with visible events would fall behind pruning
    whenever an agent's inboxes are quiet, and every replay would then ask for a resync.
    """
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


@dataclass
class Replay:
    frames: list[dict] = field(default_factory=list)
    upto: int = 0  # every visible event in (since, upto] is in `frames`
    more: bool = False  # stopped at the limit: `upto` is the last frame's id, read on from there
    gone: bool = False  # the gap cannot be replayed exactly: refetch state (resync.required)


def events_after(*, agent_id: int, inbox_ids: list[int], since: int, limit: int, check_gone: bool = True) -> Replay:
    """Visible events after the position `since`, in id order.

    `check_gone`: `since` came from a client. It cannot be replayed when events after it have
    been pruned, or when it is beyond the newest event (ids this log never issued, e.g. after a
    restore). A position the server read itself (the socket's own catch-up) needs no check.
    """
    newest = event_position()  # first: every id up to it is readable by the next statement
    if check_gone:
        if since > newest:
            return Replay(upto=newest, gone=True)
        oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
        if oldest is not None and since < oldest - 1:
            return Replay(upto=newest, gone=True)
    rows = list(
        events_visible_since(agent_id=agent_id, inbox_ids=inbox_ids, since=since)
        .filter(id__lte=newest)
        .values_list("id", "type", "conversation_id", "data")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    # Frames from the rows' values: up to 500 rows, no model instances.
    return Replay(
        frames=[event_frame(*row) for row in rows], upto=rows[-1][0] if more else max(newest, since), more=more
    )


def conversation_visible(*, agent_id: int, conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id, inbox__in=inboxes_visible(agent_id).values("pk")).exists()
