"""Who may open the console socket (DESIGN.md §5: session cookie or ?token=, Origin checked)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.console.conftest import SAME_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


async def test_unauthenticated_connection_is_closed(open_socket, agent):
    connected, code, _ = await open_socket()
    assert connected is False
    assert code == 4401


async def test_unknown_token_is_closed(open_socket, agent):
    connected, code, _ = await open_socket("token=not-a-token")
    assert (connected, code) == (False, 4401)


async def test_token_of_inactive_agent_is_closed(open_socket, agent, token_for):
    token = await token_for(agent)
    agent.is_active = False
    await sync_to_async(agent.save)(update_fields=["is_active"])
    connected, code, _ = await open_socket(f"token={token}")
    assert (connected, code) == (False, 4401)


async def test_api_token_opens_the_socket_without_origin(open_socket, agent, sms_inbox, token_for):
    connected, _, socket = await open_socket(f"token={await token_for(agent)}", headers=[(b"host", b"testserver")])
    assert connected is True
    hello = await socket.frame()
    assert hello["type"] == "hello"
    assert hello["agent"] == agent.pk
    assert hello["inboxes"] == [sms_inbox.pk]
    assert isinstance(hello["last_event_id"], int)


async def test_session_cookie_from_the_same_origin_opens_the_socket(open_socket, agent, session_cookie_for):
    headers = SAME_ORIGIN + [(b"cookie", await session_cookie_for(agent))]
    connected, _, socket = await open_socket(headers=headers)
    assert connected is True
    hello = await socket.frame()
    assert (hello["type"], hello["agent"]) == ("hello", agent.pk)


async def test_session_cookie_from_a_configured_console_origin_opens_the_socket(
    open_socket, agent, session_cookie_for, settings
):
    settings.CONSOLE_ORIGINS = ["https://desk.example.com"]
    headers = [
        (b"host", b"internal:8000"),
        (b"origin", b"https://desk.example.com"),
        (b"cookie", await session_cookie_for(agent)),
    ]
    connected, _, _ = await open_socket(headers=headers)
    assert connected is True


async def test_session_cookie_from_another_site_is_rejected(open_socket, agent, session_cookie_for):
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"https://evil.example"),
        (b"cookie", await session_cookie_for(agent)),
    ]
    connected, code, _ = await open_socket(headers=headers)
    assert (connected, code) == (False, 4403)


async def test_session_cookie_without_origin_is_rejected(open_socket, agent, session_cookie_for):
    headers = [(b"host", b"testserver"), (b"cookie", await session_cookie_for(agent))]
    connected, code, _ = await open_socket(headers=headers)
    assert (connected, code) == (False, 4403)


async def test_token_from_another_site_is_rejected(open_socket, agent, token_for):
    headers = [(b"host", b"testserver"), (b"origin", b"https://evil.example")]
    connected, code, _ = await open_socket(f"token={await token_for(agent)}", headers=headers)
    assert (connected, code) == (False, 4403)


async def test_origin_that_only_starts_like_ours_is_rejected(open_socket, agent, session_cookie_for):
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver.evil.example"),
        (b"cookie", await session_cookie_for(agent)),
    ]
    connected, code, _ = await open_socket(headers=headers)
    assert (connected, code) == (False, 4403)
