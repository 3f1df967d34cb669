"""Widget socket: replay after a gap (`?since=` and the `resume` action), resync, delivered marks."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.bus.models import Event
from apps.conversations.models import Message
from apps.widget.hub import hub
from tests.widget.test_socket import agent_reply, new_visitor, open_visitor, send_and_ack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _stop_hub_and_close_connections():
    yield
    await hub.stop()
    await sync_to_async(connections.close_all)()


@sync_to_async
def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


async def visitor_with_conversation(inbox):
    token = await new_visitor(inbox)
    sock, _ = await open_visitor(inbox, token)
    conversation_id = (await send_and_ack(sock, "hello", "first"))["message"]["conversation"]
    await sock.frames_for(0.5)
    return token, sock, conversation_id


def messages_only(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] in ("message.created", "message.updated")]


async def test_reconnecting_with_since_replays_exactly_what_was_missed_in_order(widget_inbox, agent):
    token, sock, conversation_id = await visitor_with_conversation(widget_inbox)
    beat = await sock.frame(skip=("message.created", "message.updated", "conversation.updated"))
    assert beat["type"] == "heartbeat"
    since = beat["last_event"]
    await sock.close()

    first = await agent_reply(conversation_id, agent, "first answer")
    await agent_reply(conversation_id, agent, "internal note", kind="note")
    second = await agent_reply(conversation_id, agent, "second answer")

    upto = await newest_event_id()
    sock, hello = await open_visitor(widget_inbox, token, since=since)
    # hello claims only what the socket has been served: the replay is still to come.
    assert hello["last_event"] == since
    frames = await sock.frames_for(1.0)
    # The replay comes first, in order; then live events (the replies turning "delivered").
    replayed = [f for f in frames if f["id"] <= upto]
    assert frames[: len(replayed)] == replayed
    ids = [f["id"] for f in replayed]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids
    assert all(i > since for i in ids)
    created = [f["data"]["text"] for f in replayed if f["type"] == "message.created"]
    assert created == ["first answer", "second answer"]
    assert not any("internal note" in str(f) for f in replayed)
    assert {f["data"]["id"] for f in messages_only(replayed)} <= {first.pk, second.pk}

    # Nothing is delivered twice afterwards (the hub's catch-up runs every 0.5 s in tests).
    again = await sock.frames_for(1.5)
    assert not [f for f in again if f["id"] in ids and f["type"] == "message.created"]
    await sock.close()


async def test_the_resume_action_replays_like_since(widget_inbox, agent):
    token, sock, conversation_id = await visitor_with_conversation(widget_inbox)
    position = await newest_event_id()
    await agent_reply(conversation_id, agent, "while you read")
    live = messages_only(await sock.frames_for(1.0))
    assert [f["data"]["text"] for f in live if f["type"] == "message.created"] == ["while you read"]

    await sock.send({"action": "resume", "since": position})
    replayed = messages_only(await sock.frames_for(1.0))
    assert [f["data"]["text"] for f in replayed if f["type"] == "message.created"] == ["while you read"]
    assert [f["id"] for f in replayed] == sorted(f["id"] for f in replayed)
    await sock.close()


async def test_a_position_beyond_the_log_asks_for_a_resync(widget_inbox):
    token = await new_visitor(widget_inbox)
    newest = await newest_event_id()
    sock, hello = await open_visitor(widget_inbox, token, since=newest + 1000)
    assert await sock.frame() == {"type": "resync.required", "last_event": hello["last_event"]}
    await sock.close()


async def test_a_gap_older_than_the_log_keeps_asks_for_a_resync(widget_inbox, agent):
    token, sock, conversation_id = await visitor_with_conversation(widget_inbox)
    await sock.close()
    since = await newest_event_id()
    await agent_reply(conversation_id, agent, "you will not see this one replayed")
    # Pruning (apps.bus.tasks.events_prune) removed everything up to the newest event.
    newest = await newest_event_id()
    await sync_to_async(Event.objects.filter(id__lt=newest).delete)()

    sock, hello = await open_visitor(widget_inbox, token, since=since)
    assert hello["last_event"] == since
    frame = await sock.frame()
    assert frame == {"type": "resync.required", "last_event": newest}
    assert await sock.frames_for(0.8) == []
    await sock.close()


async def test_too_many_missed_events_ask_for_a_resync(widget_inbox, agent, settings):
    settings.EVENT_REPLAY_LIMIT = 2
    token, sock, conversation_id = await visitor_with_conversation(widget_inbox)
    await sock.close()
    since = await newest_event_id()
    for text in ("one", "two", "three"):
        await agent_reply(conversation_id, agent, text)
    newest = await newest_event_id()
    sock, hello = await open_visitor(widget_inbox, token, since=since)
    assert hello["last_event"] == since
    assert await sock.frame() == {"type": "resync.required", "last_event": newest}
    await sock.close()


async def test_a_reply_pushed_to_the_visitor_is_marked_delivered(widget_inbox, agent):
    token, sock, conversation_id = await visitor_with_conversation(widget_inbox)
    reply = await agent_reply(conversation_id, agent, "did you get this?")
    statuses = []
    for frame in messages_only(await sock.frames_for(2.0)):
        if frame["data"]["id"] == reply.pk:
            statuses.append(frame["data"]["status"])
    assert statuses[-1] == "delivered", statuses
    assert (await sync_to_async(Message.objects.get)(pk=reply.pk)).status == Message.Status.DELIVERED
    await sock.close()
