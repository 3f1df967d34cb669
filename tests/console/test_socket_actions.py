"""Client actions on the console socket: errors never drop the socket; sends are idempotent."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from apps.assignment.models import AgentPresence
from apps.bus.models import Event, OutboxEntry
from apps.conversations.models import Conversation, Message, ReadMarker
from tests.console.test_socket_events import connect, go_online

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "+14155552671"


@pytest.fixture
async def live(open_socket, agent, token_for, sms):
    """Ana online and connected, with one conversation from a customer (its events read)."""
    await go_online(agent)
    socket, _ = await connect(open_socket, await token_for(agent))
    await sms(Body="hello?", From=CUSTOMER)
    # conversation.created, message.created, and Ana's notification that it was assigned to her
    assert [e["type"] for e in await socket.events(3)] == [
        "conversation.created",
        "message.created",
        "notification.created",
    ]
    conversation = await sync_to_async(Conversation.objects.get)()
    return socket, conversation


async def ping_pong(socket) -> None:
    await socket.send({"action": "ping"})
    pong = await socket.frame()
    assert pong["type"] == "pong"
    assert isinstance(pong["last_event_id"], int)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"send"', "invalid_frame"),
        ("null", "invalid_frame"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"body": "no action"}', "unknown_action"),
        ('{"action": "resume"}', "invalid_since"),
        ('{"action": "resume", "since": "yesterday"}', "invalid_since"),
        ('{"action": "send", "body": "hi", "client_id": "x"}', "invalid_conversation"),
        ('{"action": "presence", "status": "dancing"}', "invalid_presence"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(live, text, code):
    socket, _ = live
    await socket.send_text(text)
    frame = await socket.frame()
    assert frame["type"] == "error"
    assert frame["code"] == code
    assert frame["message"]
    await ping_pong(socket)


async def test_send_without_client_id_is_refused_and_sends_nothing(live):
    socket, conversation = live
    await socket.send({"action": "send", "conversation": conversation.pk, "body": "hi"})
    frame = await socket.frame()
    assert (frame["type"], frame["code"]) == ("error", "invalid_client_id")
    await socket.send({"action": "send", "conversation": conversation.pk, "body": "  ", "client_id": "c-empty"})
    frame = await socket.frame()
    assert (frame["type"], frame["code"], frame["client_id"]) == ("error", "empty_message", "c-empty")
    assert await sync_to_async(Message.objects.filter(direction="out").count)() == 0
    await ping_pong(socket)


async def test_binary_and_oversized_frames_get_an_error(live):
    socket, _ = live
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await socket.frame())["code"] == "invalid_frame"
    await socket.send_text(json.dumps({"action": "ping", "pad": "x" * 70_000}))
    assert (await socket.frame())["code"] == "invalid_frame"
    await ping_pong(socket)


async def test_send_twice_with_one_client_id_sends_once(live, agent):
    socket, conversation = live
    action = {"action": "send", "conversation": conversation.pk, "client_id": "c-42", "body": "On it!"}
    await socket.send(action)
    await socket.send(action)
    frames = await socket.frames_for(1.5)

    acks = [f for f in frames if f["type"] == "ack"]
    assert len(acks) == 2
    first, second = acks
    assert (first["client_id"], first["created"]) == ("c-42", True)
    assert (second["client_id"], second["created"]) == ("c-42", False)
    assert second["message"]["id"] == first["message"]["id"]
    message = await sync_to_async(Message.objects.get)(direction="out")
    assert message.pk == first["message"]["id"]
    assert (message.body, message.client_id, message.sender_id) == ("On it!", "c-42", agent.pk)
    assert await sync_to_async(OutboxEntry.objects.count)() == 1
    created = await sync_to_async(
        lambda: list(Event.objects.filter(type="message.created", data__id=message.pk).values_list("id", flat=True))
    )()
    assert len(created) == 1
    # The sender's own console gets the message once (then its delivery updates).
    assert [f["id"] for f in frames if f["type"] == "message.created"] == created
    assert [f["data"]["status"] for f in frames if f["type"] == "message.updated"] == ["sent", "delivered"]


async def test_typing_reaches_other_agents_of_the_inbox_and_is_rate_limited(
    live, open_socket, agent, other_agent, token_for
):
    socket, conversation = live
    ben, _ = await connect(open_socket, await token_for(other_agent))
    assert (await ben.frame())["type"] == "presence.updated"  # ben came online
    assert (await socket.frame())["type"] == "presence.updated"

    await socket.send({"action": "typing", "conversation": conversation.pk})
    await socket.send({"action": "typing", "conversation": conversation.pk})  # within 2 s: dropped
    typing = await ben.frame()
    assert typing["type"] == "typing"
    assert typing["conversation"] == conversation.pk
    assert typing["data"] == {"agent": agent.pk, "on": True}
    assert await ben.frames_for(1.0) == []
    assert await sync_to_async(Event.objects.filter(type="typing").count)() == 1


async def test_read_marks_the_conversation_read(live, agent):
    socket, conversation = live
    await socket.send({"action": "read", "conversation": conversation.pk, "seq": 1})
    # The ack (the answer to the action) and the logged `conversation.read` event (for the
    # agent's other tabs, through the event stream) come on two paths: either may come first.
    first, second = await socket.frame(), await socket.frame()
    ack = {"type": "read.ack", "conversation": conversation.pk, "seq": 1}
    event = second if first == ack else first
    assert ack in (first, second)
    assert event["type"] == "conversation.read" and event["data"] == {"conversation": conversation.pk, "seq": 1}
    marker = await sync_to_async(ReadMarker.objects.get)(agent=agent, conversation=conversation)
    assert marker.last_read_seq == 1


async def test_presence_action_sets_the_agents_status(live, agent):
    socket, _ = live
    await socket.send({"action": "presence", "status": "away"})
    frame = await socket.frame()
    assert frame["type"] == "presence.updated"
    assert frame["data"]["agent"] == agent.pk
    assert frame["data"]["status"] == "away"
    presence = await sync_to_async(AgentPresence.objects.get)(agent=agent)
    assert (presence.status, presence.chosen_status) == ("away", "away")
