"""/metrics tells this process's open console sockets and the lowest position they confirmed."""

from __future__ import annotations

import pytest

from tests.sockets import socket_samples

pytestmark = pytest.mark.django_db(transaction=True)


async def test_open_console_sockets_and_their_lowest_position_are_in_metrics(
    open_socket, agent, sms_inbox, token_for, sms
):
    assert await socket_samples("console") == (0, None)
    token = await token_for(agent)
    _, _, first = await open_socket(f"token={token}", headers=[(b"host", b"testserver")])
    start = (await first.frame())["last_event_id"]
    # The agent comes online with this socket: the stream hands the socket its own presence
    # event, and the socket's position moves with what it was handed.
    presence = await first.frame()
    assert presence["type"] == "presence.updated" and presence["id"] > start
    assert await socket_samples("console") == (1, presence["id"])

    await sms(Body="A new message moves the log on")
    _, _, second = await open_socket(f"token={token}", headers=[(b"host", b"testserver")])
    later = (await second.frame())["last_event_id"]
    assert later > start
    # The first socket confirms the new events at its next heartbeat (0.5 s in tests).
    heartbeat = await first.frame(
        skip=("message.created", "conversation.created", "conversation.updated", "notification.created")
    )
    while heartbeat["type"] != "heartbeat" or heartbeat["last_event_id"] < later:
        heartbeat = await first.frame(skip=())
    opened, lowest = await socket_samples("console")
    assert opened == 2 and lowest == later

    await first.close()
    await second.close()
    assert await socket_samples("console") == (0, None)
