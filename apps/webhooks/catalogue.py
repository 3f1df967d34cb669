"""The public webhook events: their names and payloads (docs/webhooks.md), made from the event log.

The event log's types are internal (the console's frames); what receivers get is this
catalogue, versioned by its documentation. Each log event maps to zero or more public events;
their payload is a snapshot taken when the event happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.bus.events import EventType
from apps.bus.models import Event

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_RESOLVED = "conversation.resolved"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONTACT_UPDATED = "contact.updated"
CSAT_RECEIVED = "csat.received"
BROADCAST_FINISHED = "broadcast.finished"
# Sent on an admin's request only ("Send test event"); never subscribed to.
PING = "ping"

# Public name -> what it means, for the console's picker and the API.
EVENT_TYPES: dict[str, str] = {
    CONVERSATION_CREATED: "A customer started a new conversation.",
    CONVERSATION_UPDATED: "A conversation's status, assignee, team, priority or labels changed.",
    CONVERSATION_RESOLVED: "A conversation was resolved.",
    MESSAGE_CREATED: "A message was received or sent (or a private note written).",
    MESSAGE_UPDATED: "A sent message's delivery status changed (sent, delivered, read, failed).",
    CONTACT_UPDATED: "A contact's name or identities changed, or contacts were merged.",
    CSAT_RECEIVED: "A customer answered the satisfaction question.",
    BROADCAST_FINISHED: "A status broadcast finished sending (with its counts).",
}

# Internal event types other apps append that are public as they are (their data is the payload).
CSAT_LOG_TYPE = "csat.received"
BROADCAST_LOG_TYPE = "broadcast.finished"

_CONVERSATION_FIELDS = (
    "id",
    "inbox",
    "contact",
    "status",
    "assignee",
    "team",
    "priority",
    "last_activity_at",
    "waiting_since",
    "snoozed_until",
)
_MESSAGE_FIELDS = (
    "id",
    "conversation",
    "seq",
    "direction",
    "kind",
    "channel",
    "identity",
    "sender",
    "body",
    "status",
    "error_code",
    "error_message",
    "created_at",
    "attachments",
)


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: data.get(name) for name in fields}


def public_events(event: Event) -> Iterator[tuple[str, dict[str, Any]]]:
    """(public name, data) for each public event this log event is."""
    if event.agent_id is not None:  # one agent's notifications are not the company's events
        return
    data = event.data or {}
    if event.type in (EventType.CONVERSATION_CREATED, EventType.CONVERSATION_UPDATED):
        conversation = _pick(data, _CONVERSATION_FIELDS)
        if "labels" in data:
            conversation["labels"] = data["labels"]
        changes = list(data.get("changes") or [])
        if event.type == EventType.CONVERSATION_CREATED:
            yield CONVERSATION_CREATED, {"conversation": conversation}
            return
        yield CONVERSATION_UPDATED, {"conversation": conversation, "changes": changes}
        if "status" in changes and data.get("status") == "resolved":
            yield CONVERSATION_RESOLVED, {"conversation": conversation}
    elif event.type in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED):
        if data.get("kind") == "activity":
            return
        name = MESSAGE_CREATED if event.type == EventType.MESSAGE_CREATED else MESSAGE_UPDATED
        yield name, {"message": _pick(data, _MESSAGE_FIELDS)}
    elif event.type == EventType.CONTACT_UPDATED:
        yield CONTACT_UPDATED, {"contact": data}
    elif event.type == CSAT_LOG_TYPE:
        yield CSAT_RECEIVED, {"csat": data}
    elif event.type == BROADCAST_LOG_TYPE:
        yield BROADCAST_FINISHED, {"broadcast": data}


def envelope(*, webhook_id: str, name: str, event: Event, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": webhook_id,
        "type": name,
        "created_at": event.created_at.isoformat(),
        "event_id": event.id,
        "data": data,
    }
