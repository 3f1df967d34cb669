"""What a visitor's socket reads from the event log: visitor frames, replay and catch-up.

One place decides what a visitor may see of an event and builds the frame they get; live
pushes (apps.widget.hub) and replays both go through `visitor_frames`, so the two cannot differ.
A visitor sees, of their own conversations only: messages (never notes or activities) in the
visitor shape of apps.widget.services, status changes of the conversation, and agents typing.
Everything else in the log (assignees, labels, contacts, notes, presence) stays with the agents.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max

from apps.accounts.models import Agent, Inbox
from apps.bus.events import EventType
from apps.bus.models import Event
from apps.conversations.models import Message
from apps.widget.services import visitor_message_data

VISITOR_EVENT_TYPES = (
    EventType.MESSAGE_CREATED,
    EventType.MESSAGE_UPDATED,
    EventType.CONVERSATION_UPDATED,
    EventType.TYPING,
)
# Typing is live only: replayed, it would show an agent typing who stopped long ago.
REPLAYED_TYPES = (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED, EventType.CONVERSATION_UPDATED)
CONVERSATION_FIELDS = ("status",)


def visitor_may_see(type: str, data: dict[str, Any]) -> bool:
    """Whether an event of a widget conversation can concern its visitor (cheap; no query)."""
    if type in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED):
        return data.get("kind", "message") == "message"
    if type == EventType.CONVERSATION_UPDATED:
        changes = data.get("changes")
        return changes is None or any(name in changes for name in CONVERSATION_FIELDS)
    return type == EventType.TYPING and data.get("agent") is not None


# The doorbells' group name (the hub is one listener per process, not one per socket).
GROUP_WIDGETS = "widgets"


def widget_doorbells(rows: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The widget's audience: doorbells for the hub, for new events a visitor may see (`rows`
    are Event rows or the stream's StreamEvents).

    They carry ids only. The hub that has a socket on the conversation reads the event back from
    the log and builds the visitor's frame there (`visitor_frames`), the same way a replay does,
    so agent-internal data never travels towards a visitor's socket.

    Which inbox an event is in is not known here without a query on the hot path of every
    channel, so: message events ring when the message went over the widget (`channel`), which
    keeps SMS and email traffic away from the hubs; status changes and agents typing (rare)
    ring for every inbox, and a hub drops those of conversations it has no socket on. A reply
    sent over another channel in a widget conversation (email, say) reaches the visitor by the
    hub's catch-up from the log, at the next heartbeat.
    """
    return [
        (
            GROUP_WIDGETS,
            {
                "id": e.id,
                "type": e.type,
                "conversation": e.conversation_id,
                # A visitor's own new message: their other tabs follow the conversation it opened.
                "identity": e.data.get("identity") if e.data.get("direction") == "in" else None,
            },
        )
        for e in rows
        if e.conversation_id is not None
        and e.agent_id is None
        and visitor_may_see(e.type, e.data)
        and (e.type not in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED) or e.data.get("channel") == "widget")
    ]


def event_position() -> int:
    """The newest event id in the whole log (see apps.console.selectors.event_position)."""
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def visitor_frames(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The frames a visitor gets for these events (of their own conversations), in order.

    Messages are read back from the database: the visitor gets their current state in the
    visitor shape (a message.updated replayed late shows the newest status, never an older one).
    """

    events = [e for e in events if visitor_may_see(e.type, e.data)]
    message_ids = {e.data.get("id") for e in events if e.type in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED)}
    messages = {
        m.pk: m
        for m in Message.objects.filter(
            pk__in=[i for i in message_ids if isinstance(i, int)], kind=Message.Kind.MESSAGE
        )
        .select_related("sender")
        .prefetch_related("attachments")
    }
    agent_ids = {e.data.get("agent") for e in events if e.type == EventType.TYPING}
    names = {
        agent.pk: agent.name
        for agent in Agent.objects.filter(pk__in=[i for i in agent_ids if isinstance(i, int)]).only(
            "id", "display_name", "first_name", "last_name", "username"
        )
    }
    frames: list[dict[str, Any]] = []
    for event in events:
        data: dict[str, Any]
        if event.type == EventType.TYPING:
            agent_id = event.data.get("agent")
            if agent_id not in names:
                continue
            data = {"agent": {"name": names[agent_id]}, "active": bool(event.data.get("on", True))}
        elif event.type == EventType.CONVERSATION_UPDATED:
            data = {"id": event.conversation_id, "status": event.data.get("status")}
        else:
            message = messages.get(event.data.get("id"))  # type: ignore[arg-type]
            if message is None or message.conversation_id != event.conversation_id:
                continue
            data = visitor_message_data(message)
        frames.append({"id": event.id, "type": event.type, "conversation": event.conversation_id, "data": data})
    return frames


def visitor_frames_by_id(event_ids: Collection[int]) -> list[dict[str, Any]]:
    """The live path: the hub got doorbells (ids) and reads the events back."""
    return visitor_frames(Event.objects.filter(pk__in=list(event_ids)).order_by("id"))


@dataclass
class Replay:
    frames: list[dict[str, Any]] = field(default_factory=list)
    upto: int = 0  # the position: every visible event up to it is in `frames` or came before `since`
    gone: bool = False  # cannot be replayed exactly (pruned, unknown or too long): resync.required


def replay_since(*, conversation_ids: Collection[int], since: int, limit: int) -> Replay:
    """The visitor's events after `since` (a position the client sent), in id order."""
    newest = event_position()  # first: every id up to it is readable by the next statements
    if since > newest:
        return Replay(upto=newest, gone=True)
    oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
    if oldest is not None and since < oldest - 1:
        return Replay(upto=newest, gone=True)
    if not conversation_ids:
        return Replay(upto=newest)
    rows = list(
        Event.objects.filter(
            conversation_id__in=list(conversation_ids),
            id__gt=since,
            id__lte=newest,
            agent_id__isnull=True,
            type__in=REPLAYED_TYPES,
        ).order_by("id")[: limit + 1]
    )
    if len(rows) > limit:
        return Replay(upto=newest, gone=True)
    return Replay(frames=visitor_frames(rows), upto=newest)


def widget_events_after(*, since: int, limit: int) -> tuple[list[Event], int, bool]:
    """The hub's catch-up: events of widget inboxes after `since` that a visitor may see.

    Returns (events, upto, more). One query per process and interval, whatever the number of
    sockets; the hub picks the conversations it has sockets on.
    """

    newest = event_position()
    rows = list(
        Event.objects.filter(
            id__gt=since,
            id__lte=newest,
            agent_id__isnull=True,
            conversation_id__isnull=False,
            type__in=VISITOR_EVENT_TYPES,
            inbox_id__in=Inbox.objects.filter(channel=Inbox.Channel.WIDGET).values("id"),
        )
        .only("id", "type", "conversation_id", "inbox_id", "data")
        .order_by("id")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else max(newest, since)), more
