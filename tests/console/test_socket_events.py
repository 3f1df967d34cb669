"""Live events, replay and catch-up on the console socket (DESIGN.md §4)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from apps.bus.events import events_visible_since
from apps.bus.models import Event
from apps.conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "+14155552671"


async def connect(open_socket, token: str, since: int | None = None):
    query = f"token={token}" + (f"&since={since}" if since is not None else "")
    connected, code, socket = await open_socket(query)
    assert connected, code
    hello = await socket.frame()
    assert hello["type"] == "hello"
    return socket, hello


async def connect_online(open_socket, agent, token_for):
    """Connect an agent who was offline: the first frame after hello is their own presence."""
    socket, hello = await connect(open_socket, await token_for(agent))
    presence = await socket.frame()
    assert presence["type"] == "presence.updated"
    assert presence["data"]["agent"] == agent.pk
    assert presence["data"]["status"] == "online"
    assert presence["id"] > hello["last_event_id"]
    return socket, hello, presence


@sync_to_async
def go_online(agent) -> None:
    from apps.assignment.services import presence_set

    presence_set(agent_id=agent.pk, status="online")


@sync_to_async
def visible_ids_after(agent, since: int) -> list[int]:
    inbox_ids = list(agent.inboxes.values_list("id", flat=True))
    return list(events_visible_since(agent_id=agent.pk, inbox_ids=inbox_ids, since=since).values_list("id", flat=True))


async def test_signed_sms_reaches_the_online_agent_live_and_is_assigned_to_them(open_socket, agent, token_for, sms):
    socket, hello, presence = await connect_online(open_socket, agent, token_for)

    await sms(Body="My router is down", From=CUSTOMER)

    created, message, notification = await socket.events(3)
    conversation = await sync_to_async(Conversation.objects.get)()
    stored = await sync_to_async(Message.objects.get)()
    assert notification["type"] == "notification.created"
    assert notification["conversation"] == conversation.pk
    assert notification["data"] == {
        "kind": "assigned",
        "conversation": conversation.pk,
        "message": None,
        "by": None,
        "excerpt": "My router is down",
    }
    assert created["type"] == "conversation.created"
    assert created["conversation"] == conversation.pk
    assert created["data"]["assignee"] == agent.pk
    assert message["type"] == "message.created"
    assert message["conversation"] == conversation.pk
    assert message["data"]["id"] == stored.pk
    assert message["data"]["body"] == "My router is down"
    assert message["data"]["direction"] == "in"
    assert hello["last_event_id"] < presence["id"] < created["id"] < message["id"] < notification["id"]
    assert conversation.assignee_id == agent.pk
    # Heartbeat catch-up runs every 0.5 s in tests: it must not deliver anything a second time.
    assert await socket.frames_for(1.5) == []


async def test_reconnect_with_since_and_resume_replay_exactly_the_missed_events(open_socket, agent, token_for, sms):
    token = await token_for(agent)
    socket, _, _ = await connect_online(open_socket, agent, token_for)
    await sms(Body="first", From=CUSTOMER)
    _, _, first = await socket.events(3)  # created, message, assigned notification
    last_seen = first["id"]
    await socket.close()

    await sms(Body="second", From=CUSTOMER)
    await sms(Body="third", From=CUSTOMER)
    missed = await visible_ids_after(agent, last_seen)
    assert len(missed) == 2

    socket, hello = await connect(open_socket, token, since=last_seen)
    replayed = await socket.events(2)
    assert [f["id"] for f in replayed] == missed
    assert [f["type"] for f in replayed] == ["message.created", "message.created"]
    assert [f["data"]["body"] for f in replayed] == ["second", "third"]
    # hello claims only what this socket has been served: the replay after `since` is still to come.
    assert hello["last_event_id"] == last_seen
    assert await socket.frames_for(1.2) == []

    await socket.send({"action": "resume", "since": last_seen})
    again = await socket.events(2)
    assert again == replayed
    assert await socket.frames_for(1.2) == []


async def test_event_whose_doorbell_never_rang_arrives_from_the_streams_timer(
    open_socket, agent, token_for, sms, monkeypatch
):
    from apps.bus import doorbell

    socket, _, presence = await connect_online(open_socket, agent, token_for)
    # The event doorbell never rings (a listener reconnecting): the events are only in the log.
    real_ring = doorbell.ring
    monkeypatch.setattr(
        doorbell,
        "ring",
        lambda channel, payload="": None if channel == doorbell.EVENTS else real_ring(channel, payload),
    )
    await sms(Body="nobody rang", From=CUSTOMER)
    expected = await visible_ids_after(agent, presence["id"])
    assert len(expected) == 3

    caught_up = await socket.events(3, timeout=3.0)
    assert [f["id"] for f in caught_up] == expected
    assert [f["type"] for f in caught_up] == ["conversation.created", "message.created", "notification.created"]
    assert caught_up[1]["data"]["body"] == "nobody rang"
    beat = await socket.frame(skip=())
    assert beat == {"type": "heartbeat", "last_event_id": expected[-1]}
    assert await socket.frames_for(1.2) == []


async def test_since_older_than_the_retained_log_asks_for_a_resync(open_socket, agent, token_for, sms):
    token = await token_for(agent)
    await go_online(agent)  # connecting then changes no presence
    await sms(Body="one", From=CUSTOMER)
    await sms(Body="two", From=CUSTOMER)
    ids = await sync_to_async(lambda: list(Event.objects.order_by("id").values_list("id", flat=True)))()
    assert len(ids) >= 3
    # Pruning removed the oldest events: a client that last saw one before them cannot replay.
    await sync_to_async(lambda: Event.objects.filter(id__lte=ids[1]).delete())()

    socket, hello = await connect(open_socket, token, since=ids[0] - 1)
    assert hello["last_event_id"] == ids[0] - 1  # served to where it resumed, no further
    frame = await socket.frame()
    assert frame == {"type": "resync.required", "last_event_id": ids[-1]}

    await socket.send({"action": "resume", "since": ids[0]})
    assert await socket.frame() == {"type": "resync.required", "last_event_id": ids[-1]}

    # The boundary: the client saw the last pruned id, so nothing it misses is gone.
    await socket.send({"action": "resume", "since": ids[1]})
    replayed = await socket.events(len(ids) - 2)
    assert [f["id"] for f in replayed] == ids[2:]


async def test_since_beyond_the_newest_event_asks_for_a_resync(open_socket, agent, token_for, sms):
    token = await token_for(agent)
    await go_online(agent)  # connecting then changes no presence
    await sms(Body="one", From=CUSTOMER)
    newest = await sync_to_async(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()

    socket, hello = await connect(open_socket, token, since=newest + 1000)
    assert await socket.frame() == {"type": "resync.required", "last_event_id": newest}
    assert hello["last_event_id"] == newest

    # Up to date: nothing to replay and no resync.
    socket2, _ = await connect(open_socket, token, since=newest)
    assert await socket2.frames_for(1.2) == []


async def test_gap_larger_than_the_replay_limit_asks_for_a_resync(open_socket, agent, token_for, sms, settings):
    token = await token_for(agent)
    await go_online(agent)  # connecting then changes no presence
    await sms(Body="one", From=CUSTOMER)
    start = await sync_to_async(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()
    for body in ("two", "three", "four"):
        await sms(Body=body, From=CUSTOMER)
    settings.EVENT_REPLAY_LIMIT = 2
    newest = await sync_to_async(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()

    socket, hello = await connect(open_socket, token, since=start)
    assert hello["last_event_id"] == start
    assert await socket.frame() == {"type": "resync.required", "last_event_id": newest}


async def test_a_socket_never_goes_live_on_a_stopped_streams_old_position(open_socket, agent, token_for, monkeypatch):
    """The process's stream stops when its last socket leaves. The next socket must wait for
    the new stream's own position: an event committed while that stream starts reaches it."""
    import time

    from django.db import transaction

    from apps.bus import stream as stream_module
    from apps.bus.events import EventType, event_append

    token = await token_for(agent)
    await go_online(agent)
    first, _ = await connect(open_socket, token)
    await first.close()
    deadline = time.monotonic() + 5
    while stream_module.stream._thread is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert stream_module.stream._thread is None, "the stream did not stop with its last socket"

    real_position = stream_module.log_position

    def slow_start() -> int:
        # The new stream thread reads its position a moment late, and an event commits first.
        time.sleep(0.5)
        with transaction.atomic():
            event_append(type=EventType.AGENT_UPDATED, data={"agent": agent.pk, "probe": True})
        return real_position()

    monkeypatch.setattr(stream_module, "log_position", slow_start)
    second, hello = await connect(open_socket, token)
    frame = await second.frame(timeout=5.0)
    assert frame["type"] == EventType.AGENT_UPDATED and frame["data"].get("probe") is True, frame
    assert frame["id"] > hello["last_event_id"]
