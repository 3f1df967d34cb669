"""An agent sees only their inboxes' conversations, live and on replay, and acts only on those."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from tests.console.test_socket_events import connect, go_online
from tests.factories import AgentFactory, InboxFactory

pytestmark = pytest.mark.django_db(transaction=True)

INBOX_B = "+15005550099"


@pytest.fixture
def inbox_b(db):
    return InboxFactory(name="Other SMS", address=INBOX_B)


@pytest.fixture
def carl(db, inbox_b):
    carl = AgentFactory(username="carl")
    inbox_b.members.add(carl)
    return carl


async def test_events_of_another_inbox_reach_only_its_members(
    open_socket, agent, carl, inbox_b, sms_inbox, token_for, sms
):
    await go_online(agent)
    await go_online(carl)
    ana, ana_hello = await connect(open_socket, await token_for(agent))
    carl_socket, _ = await connect(open_socket, await token_for(carl))

    await sms(Body="for inbox B", From="+14155550101", To=INBOX_B)
    b_events = await carl_socket.events(3)
    b_conversation = await sync_to_async(Conversation.objects.get)(inbox=inbox_b)
    assert [f["type"] for f in b_events] == ["conversation.created", "message.created", "notification.created"]
    assert {f["conversation"] for f in b_events} == {b_conversation.pk}
    assert b_events[0]["data"]["assignee"] == carl.pk

    await sms(Body="for inbox A", From="+14155550102")
    a_events = await ana.events(3)  # with her own "assigned" notification, which carl never gets
    a_conversation = await sync_to_async(Conversation.objects.get)(inbox=sms_inbox)
    assert [f["type"] for f in a_events] == ["conversation.created", "message.created", "notification.created"]
    assert {f["conversation"] for f in a_events} == {a_conversation.pk}
    assert await ana.frames_for(1.2) == []  # nothing of inbox B, live or caught up
    assert await carl_socket.frames_for(0.2) == []  # and carl nothing of inbox A

    # Replay from before both: still only inbox A.
    await ana.send({"action": "resume", "since": ana_hello["last_event_id"]})
    replayed = await ana.events(3)
    assert replayed == a_events
    assert await ana.frames_for(1.0) == []

    # Reconnecting with ?since= too.
    again, _ = await connect(open_socket, await token_for(agent), since=ana_hello["last_event_id"])
    assert await again.events(3) == a_events
    assert await again.frames_for(1.0) == []


async def test_agent_cannot_act_on_another_inboxs_conversation(open_socket, agent, carl, inbox_b, token_for, sms):
    await sms(Body="for inbox B", From="+14155550101", To=INBOX_B)
    b_conversation = await sync_to_async(Conversation.objects.get)(inbox=inbox_b)
    ana, _ = await connect(open_socket, await token_for(agent))
    assert (await ana.frame())["type"] == "presence.updated"  # connecting brought ana online

    await ana.send({"action": "send", "conversation": b_conversation.pk, "client_id": "c-1", "body": "hi"})
    assert await ana.frame() == {
        "type": "error",
        "code": "not_found",
        "message": "no such conversation",
        "client_id": "c-1",
    }
    for action in (
        {"action": "typing", "conversation": b_conversation.pk},
        {"action": "read", "conversation": b_conversation.pk, "seq": 1},
    ):
        await ana.send(action)
        assert await ana.frame() == {"type": "error", "code": "not_found", "message": "no such conversation"}
    assert await sync_to_async(Message.objects.filter(conversation=b_conversation).count)() == 1
    assert await sync_to_async(Event.objects.filter(type="typing").count)() == 0


async def test_position_of_a_quiet_agent_moves_with_the_whole_log(open_socket, agent, carl, inbox_b, token_for, sms):
    """The heartbeat position is a position in the whole log. Ana's inbox is quiet while inbox B is
    busy; after pruning, ana resumes from her last heartbeat and is up to date, not resynced."""
    await go_online(agent)
    token = await token_for(agent)
    ana, _ = await connect(open_socket, token)
    for n in range(3):
        await sms(Body=f"B {n}", From="+14155550101", To=INBOX_B)
    newest = await sync_to_async(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first())()
    beat = await ana.frame(skip=())
    while beat["last_event_id"] != newest:
        assert beat["type"] == "heartbeat", beat
        beat = await ana.frame(skip=())
    await ana.close()
    # Prune everything but the newest event.
    await sync_to_async(lambda: Event.objects.filter(id__lt=newest).delete())()

    again, hello = await connect(open_socket, token, since=beat["last_event_id"])
    assert hello["last_event_id"] == newest
    assert await again.frames_for(1.2) == []


async def test_leaving_an_inbox_stops_its_events_and_joining_one_starts_them(
    open_socket, agent, carl, inbox_b, sms_inbox, token_for, sms
):
    await go_online(agent)
    ana, _ = await connect(open_socket, await token_for(agent))

    @sync_to_async
    def move_ana() -> None:
        sms_inbox.members.remove(agent)
        inbox_b.members.add(agent)

    await move_ana()
    await ana.frame(skip=())  # one heartbeat: the socket has noticed
    beat = await ana.frame(skip=())
    assert beat["type"] == "heartbeat"

    await sms(Body="to the inbox ana left", From="+14155550102")
    await sms(Body="to the inbox ana joined", From="+14155550101", To=INBOX_B)
    frames = await ana.frames_for(1.5)
    b_conversation = await sync_to_async(Conversation.objects.get)(inbox=inbox_b)
    assert {f["conversation"] for f in frames} == {b_conversation.pk}
    assert [f["data"]["body"] for f in frames if f["type"] == "message.created"] == ["to the inbox ana joined"]


async def test_deactivated_agent_is_disconnected(open_socket, agent, token_for):
    ana, _ = await connect(open_socket, await token_for(agent))

    @sync_to_async
    def deactivate() -> None:
        agent.is_active = False
        agent.save(update_fields=["is_active"])

    await deactivate()
    while True:
        message = await ana.raw(timeout=3)
        if message["type"] == "websocket.close":
            break
    assert message["code"] == 4401
