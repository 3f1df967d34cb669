"""WS /ws/widget/: admission, hello, send/ack/error frames, live agent replies, typing both ways."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.widget.hub import hub
from apps.widget.models import Visitor
from tests.widget.conftest import WidgetClient
from tests.widget.socket_support import connect, site_headers, widget_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _stop_hub_and_close_connections():
    """Each test runs its own event loop: stop the process's hub with it, and close the
    database connection of the sync_to_async thread so the test database can be dropped."""
    yield
    await hub.stop()
    await sync_to_async(connections.close_all)()


@sync_to_async
def new_visitor(inbox, **body) -> str:
    client = WidgetClient(inbox)
    response = client.session(**body)
    assert response.status_code == 200, response.content
    return client.token  # type: ignore[return-value]


@sync_to_async
def agent_reply(conversation_id: int, agent, body: str, kind: str = "message") -> Message:
    message, _ = message_send(conversation_id=conversation_id, agent=agent, body=body, kind=kind)
    return message


async def open_visitor(inbox, token: str, since: int | None = None, origin: str | None = None):
    headers = site_headers() if origin is None else site_headers(origin)
    accepted, code, sock = await connect(widget_path(inbox.key, token, since), headers)
    assert accepted, code
    hello = await sock.frame()
    assert hello["type"] == "hello", hello
    return sock, hello


async def send_and_ack(sock, text: str, client_id: str) -> dict:
    await sock.send({"action": "send", "client_id": client_id, "text": text})
    ack = await sock.frame(skip=("heartbeat", "message.created", "message.updated", "conversation.updated"))
    assert ack["type"] == "ack", ack
    return ack


# --- admission -----------------------------------------------------------------------------


async def test_hello_names_the_visitor_and_the_log_position(widget_inbox):
    token = await new_visitor(widget_inbox)
    sock, hello = await open_visitor(widget_inbox, token)
    visitor = await sync_to_async(Visitor.objects.get)()
    newest = await sync_to_async(lambda: Event.objects.order_by("-id").values_list("id", flat=True).first() or 0)()
    assert hello == {"type": "hello", "visitor": visitor.public_id, "last_event": newest, "online": False}
    await sock.close()


@pytest.mark.parametrize(
    "case",
    ["no token", "unknown token", "token as its hash", "public id as token", "other inbox", "origin not allowed"],
)
async def test_refused_sockets_are_closed_with_4403_before_accept(widget_inbox, case, team):
    from apps.accounts.models import Inbox
    from apps.widget.models import WidgetSettings
    from tests.factories import InboxFactory

    token = await new_visitor(widget_inbox)
    visitor = await sync_to_async(Visitor.objects.get)()
    key, origin = widget_inbox.key, "https://shop.example.com"
    if case == "no token":
        token = ""
    elif case == "unknown token":
        token = "x" * 43
    elif case == "token as its hash":
        token = visitor.token_hash
    elif case == "public id as token":
        token = visitor.public_id
    elif case == "other inbox":

        @sync_to_async
        def other_inbox() -> str:
            inbox = InboxFactory(name="Other", channel=Inbox.Channel.WIDGET, address="", team=team)
            WidgetSettings.objects.create(inbox=inbox, allowed_origins="https://shop.example.com")
            return inbox.key

        key = await other_inbox()
    else:
        origin = "https://evil.example.net"
    accepted, code, sock = await connect(widget_path(key, token), site_headers(origin))
    assert (accepted, code) == (False, 4403)


async def test_a_script_without_origin_is_admitted_by_its_token(widget_inbox):
    token = await new_visitor(widget_inbox)
    accepted, code, sock = await connect(widget_path(widget_inbox.key, token), [(b"host", b"testserver")])
    assert accepted, code
    assert (await sock.frame())["type"] == "hello"
    await sock.close()


async def test_a_page_of_the_desk_itself_is_admitted_on_whatever_address_the_desk_runs(widget_inbox):
    token = await new_visitor(widget_inbox)
    desk = [(b"host", b"127.0.0.1:8123"), (b"origin", b"http://127.0.0.1:8123")]
    accepted, code, sock = await connect(widget_path(widget_inbox.key, token), desk)
    assert accepted, code
    assert (await sock.frame())["type"] == "hello"
    await sock.close()
    other_site = [(b"host", b"127.0.0.1:8123"), (b"origin", b"http://127.0.0.1:9999")]
    accepted, code, _ = await connect(widget_path(widget_inbox.key, token), other_site)
    assert (accepted, code) == (False, 4403)


async def test_identity_required_after_the_visitor_started_refuses_the_anonymous_socket(widget_inbox):
    from apps.widget.models import WidgetSettings

    token = await new_visitor(widget_inbox)
    await sync_to_async(WidgetSettings.objects.filter(inbox=widget_inbox).update)(require_identity=True)
    accepted, code, _ = await connect(widget_path(widget_inbox.key, token))
    assert (accepted, code) == (False, 4403)


async def test_too_many_connects_from_one_address_are_refused_with_4429(widget_inbox, settings, window_start):
    settings.WIDGET_RATE_CONNECTS = "2/60"
    token = await new_visitor(widget_inbox)  # from another address (the test client's)
    for _ in range(2):
        accepted, code, sock = await connect(widget_path(widget_inbox.key, token))
        assert accepted, code
        await sock.close()
    accepted, code, _ = await connect(widget_path(widget_inbox.key, token))
    assert (accepted, code) == (False, 4429)


# --- sending -------------------------------------------------------------------------------


async def test_send_is_stored_before_the_ack_and_a_resend_is_stored_once(widget_inbox):
    token = await new_visitor(widget_inbox, name="Jo")
    sock, _ = await open_visitor(widget_inbox, token)
    ack = await send_and_ack(sock, "Where is my <b>order</b>?", "c-1")
    stored = await sync_to_async(Message.objects.get)()
    assert ack["client_id"] == "c-1"
    assert ack["message"]["id"] == stored.pk
    assert ack["message"]["text"] == "Where is my <b>order</b>?" == stored.body
    assert ack["message"]["direction"] == "in"
    assert ack["message"]["client_id"] == "c-1"
    assert ack["message"]["conversation"] == stored.conversation_id
    assert set(ack["message"]) == {
        "id", "client_id", "conversation", "seq", "direction", "text", "author", "status", "created_at", "attachments"
    }  # fmt: skip
    again = await send_and_ack(sock, "Where is my <b>order</b>?", "c-1")
    assert again["message"]["id"] == stored.pk
    assert await sync_to_async(Message.objects.count)() == 1
    await sock.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"action": "dance"}', "bad_action"),
        ('{"action": "send", "text": "no client id"}', "bad_action"),
        ('{"action": "send", "client_id": "c-2", "text": 5}', "bad_action"),
        ('{"action": "send", "client_id": "c-3", "text": "   "}', "empty"),
        ('{"action": "send", "client_id": "c-4", "text": "' + "x" * 4001 + '"}', "too_long"),
        ('{"action": "resume", "since": "yesterday"}', "bad_action"),
        ('{"action": "typing", "active": "yes"}', "bad_action"),
    ],
)
async def test_bad_input_gets_an_error_frame_and_the_socket_stays(widget_inbox, frame, code):
    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    await sock.send_text(frame)
    error = await sock.frame()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert await sync_to_async(Message.objects.count)() == 0
    await sock.send({"action": "ping"})
    assert (await sock.frame())["type"] == "pong"
    await sock.close()


async def test_sending_too_fast_gets_rate_limited_frames_and_keeps_what_was_accepted(
    widget_inbox, settings, window_start
):
    settings.WIDGET_RATE_MESSAGES = "2/60"
    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    await send_and_ack(sock, "one", "r-1")
    await send_and_ack(sock, "two", "r-2")
    await sock.send({"action": "send", "client_id": "r-3", "text": "three"})
    error = await sock.frame(skip=("heartbeat", "message.created", "conversation.updated"))
    assert error == {"type": "error", "code": "rate_limited", "message": error["message"], "client_id": "r-3"}
    assert sorted(await sync_to_async(list)(Message.objects.values_list("body", flat=True))) == ["one", "two"]
    # A resend of an accepted message is not a new message: it is answered, not refused.
    assert (await send_and_ack(sock, "one", "r-1"))["message"]["text"] == "one"
    await sock.close()


# --- what the visitor gets -----------------------------------------------------------------


async def test_an_agent_reply_reaches_the_visitor_live_without_agent_internals(widget_inbox, agent):
    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    ack = await send_and_ack(sock, "Hello?", "h-1")
    conversation_id = ack["message"]["conversation"]
    await sock.frames_for(0.5)  # the visitor's own message.created and the conversation events

    await agent_reply(conversation_id, agent, "internal: VIP customer", kind="note")
    reply = await agent_reply(conversation_id, agent, "Hi! <script>alert(1)</script>")
    frames = [f for f in await sock.frames_for(1.5) if f["type"] == "message.created"]
    assert len(frames) == 1, frames
    frame = frames[0]
    assert frame["conversation"] == conversation_id
    assert isinstance(frame["id"], int)
    assert frame["data"]["id"] == reply.pk
    assert frame["data"]["text"] == "Hi! <script>alert(1)</script>"
    assert frame["data"]["direction"] == "out"
    assert frame["data"]["author"] == {"name": "Ana"}
    assert "body" not in frame["data"] and "meta" not in frame["data"] and "sender" not in frame["data"]
    await sock.close()


async def test_a_visitor_never_gets_another_visitors_events_even_naming_their_conversation(widget_inbox, agent):
    alice, bob = await new_visitor(widget_inbox, name="Alice"), await new_visitor(widget_inbox, name="Bob")
    a_sock, _ = await open_visitor(widget_inbox, alice)
    b_sock, _ = await open_visitor(widget_inbox, bob)
    b_conversation = (await send_and_ack(b_sock, "Bob's secret", "b-1"))["message"]["conversation"]
    await b_sock.frames_for(0.3)

    # Alice names Bob's conversation (a stolen id): her message goes to her own conversation.
    await a_sock.send({"action": "send", "client_id": "a-1", "text": "let me in", "conversation": b_conversation})
    a_ack = await a_sock.frame(skip=("heartbeat", "message.created", "conversation.created", "conversation.updated"))
    assert a_ack["type"] == "ack" and a_ack["message"]["conversation"] != b_conversation
    await agent_reply(b_conversation, agent, "Bob, your refund is ready")
    # ... and resumes from the start of the log: nothing of Bob's comes back.
    await a_sock.send({"action": "resume", "since": 0})

    a_frames = await a_sock.frames_for(1.5)
    assert a_frames, "Alice gets her own events"
    assert all(f.get("conversation") in (None, a_ack["message"]["conversation"]) for f in a_frames), a_frames
    assert not any("Bob" in str(f) for f in a_frames)
    b_frames = await b_sock.frames_for(0.5)
    assert any(f["type"] == "message.created" and f["data"]["text"] == "Bob, your refund is ready" for f in b_frames)
    assert not any("let me in" in str(f) for f in b_frames)
    await a_sock.close()
    await b_sock.close()


async def test_a_second_tab_follows_the_conversation_the_first_tab_opened(widget_inbox, agent):
    token = await new_visitor(widget_inbox)
    tab1, _ = await open_visitor(widget_inbox, token)
    tab2, _ = await open_visitor(widget_inbox, token)
    conversation_id = (await send_and_ack(tab1, "from tab 1", "t-1"))["message"]["conversation"]
    created = [f for f in await tab2.frames_for(1.0) if f["type"] == "message.created"]
    assert [f["data"]["text"] for f in created] == ["from tab 1"]
    await agent_reply(conversation_id, agent, "to both tabs")
    created = [f for f in await tab2.frames_for(1.0) if f["type"] == "message.created"]
    assert [f["data"]["text"] for f in created] == ["to both tabs"]
    await tab1.close()
    await tab2.close()


async def test_a_status_change_the_channel_layer_lost_is_caught_up_by_the_heartbeat(widget_inbox):
    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    conversation_id = (await send_and_ack(sock, "hi", "l-1"))["message"]["conversation"]
    await sock.frames_for(0.3)

    @sync_to_async
    def resolve_without_a_push() -> int:
        # The row as the services write it, but its push never sent: a dropped doorbell.
        Conversation.objects.filter(pk=conversation_id).update(status=Conversation.Status.RESOLVED)
        return Event.objects.create(
            type="conversation.updated",
            conversation_id=conversation_id,
            inbox_id=widget_inbox.pk,
            data={"id": conversation_id, "status": "resolved", "changes": ["status"], "assignee": 7},
        ).pk

    event_id = await resolve_without_a_push()
    frames = await sock.frames_for(2.0)  # the test heartbeat is 0.5 s
    assert frames == [
        {"id": event_id, "type": "conversation.updated", "conversation": conversation_id,
         "data": {"id": conversation_id, "status": "resolved"}}
    ]  # fmt: skip
    beat = await sock.frame(skip=())
    assert beat == {"type": "heartbeat", "last_event": beat["last_event"]} and beat["last_event"] >= event_id
    await sock.close()


# --- typing --------------------------------------------------------------------------------


async def test_typing_goes_both_ways(widget_inbox, agent):
    from rest_framework.authtoken.models import Token

    from tests.console.conftest import SAME_ORIGIN, Socket

    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    conversation_id = (await send_and_ack(sock, "hi", "y-1"))["message"]["conversation"]
    agent_token = (await sync_to_async(Token.objects.get_or_create)(user=agent))[0].key

    from channels.testing import WebsocketCommunicator

    from supportdesk.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/console/?token={agent_token}", headers=SAME_ORIGIN)
    assert (await communicator.connect(timeout=5))[0]
    console = Socket(communicator)
    await console.frames_for(0.5)
    await sock.frames_for(0.3)

    await sock.send({"action": "typing", "active": True})
    typing = [f for f in await console.frames_for(1.0) if f.get("type") == "typing"]
    visitor = await sync_to_async(Visitor.objects.get)()
    assert typing == [
        {"type": "typing", "conversation": conversation_id,
         "data": {"visitor": visitor.public_id, "on": True, "active": True}}
    ]  # fmt: skip

    await console.send({"action": "typing", "conversation": conversation_id, "on": True})
    typing = [f for f in await sock.frames_for(1.0) if f.get("type") == "typing"]
    assert len(typing) == 1
    assert typing[0]["conversation"] == conversation_id
    assert typing[0]["data"] == {"agent": {"name": "Ana"}, "active": True}
    await console.close()
    await sock.close()


async def test_hello_says_online_when_an_agent_of_the_inbox_is_online(widget_inbox, agent):
    from apps.assignment.services import presence_set

    await sync_to_async(presence_set)(agent_id=agent.pk, status="online")
    token = await new_visitor(widget_inbox)
    sock, hello = await open_visitor(widget_inbox, token)
    assert hello["online"] is True
    await sock.close()


async def test_a_flood_of_frames_is_refused_frame_by_frame_without_closing(widget_inbox):
    token = await new_visitor(widget_inbox)
    sock, _ = await open_visitor(widget_inbox, token)
    for _ in range(31):
        await sock.send({"action": "ping"})
    frames = [await sock.frame() for _ in range(31)]
    assert [f["type"] for f in frames] == ["pong"] * 30 + ["error"]
    assert frames[-1]["code"] == "rate_limited"
    await sock.send_text("x" * (64 * 1024 + 1))
    assert (await sock.frame())["code"] == "too_long"
    assert not sock.communicator.future.done()
    await sock.close()


# --- /metrics -----------------------------------------------------------------------------------


async def test_open_widget_sockets_and_their_lowest_position_are_in_metrics(widget_inbox):
    from tests.sockets import socket_samples

    assert await socket_samples("widget") == (0, None)
    token = await new_visitor(widget_inbox)
    accepted, _, sock = await connect(widget_path(widget_inbox.key, token))
    assert accepted
    hello = await sock.frame()
    assert await socket_samples("widget") == (1, hello["last_event"])
    await sock.close()
    assert await socket_samples("widget") == (0, None)
