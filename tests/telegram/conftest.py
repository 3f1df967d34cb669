"""Telegram fixtures: a Telegram inbox with its bot, the local Bot API server, posted updates."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from apps.accounts.models import Inbox
from apps.gateways.telegram.models import TelegramBot
from tests.browser.support import chromium  # noqa: F401 - the browser fixture, for test_telegram_console
from tests.factories import AgentFactory, InboxFactory

TOKEN = "123456:TEST-token_abc"
SECRET = "s3cret-Token_for-tests"
CHAT_ID = 1111111
_update_ids = itertools.count(10000)
_message_ids = itertools.count(1365)


@pytest.fixture(scope="session")
def _telegram_server_session():
    from tests.fakes.telegram_server import FakeTelegram

    with FakeTelegram() as server:
        yield server


@pytest.fixture
def telegram_server(_telegram_server_session, settings):
    """The local Bot API server, with TELEGRAM_API_BASE_URL pointing at it and the bot known."""
    server = _telegram_server_session
    server.reset()
    server.add_bot(TOKEN)
    settings.TELEGRAM_API_BASE_URL = server.base_url
    yield server
    server.reset()


@pytest.fixture
def tg_inbox(db, team) -> Inbox:
    return InboxFactory(name="Telegram", channel=Inbox.Channel.TELEGRAM, address="desk_bot", team=team)


@pytest.fixture
def tg_bot(tg_inbox) -> TelegramBot:
    return TelegramBot.objects.create(inbox=tg_inbox, token=TOKEN, webhook_secret=SECRET, mode=TelegramBot.Mode.WEBHOOK)


@pytest.fixture
def tg_agent(db, tg_inbox, team):
    agent = AgentFactory(username="tara", display_name="Tara")
    tg_inbox.members.add(agent)
    team.members.add(agent)
    return agent


def person(chat_id: int = CHAT_ID, **extra: Any) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Jane", "last_name": "Doe", "username": "janedoe", **extra}


def update(
    content: dict[str, Any] | None = None, *, key: str = "message", chat_id: int = CHAT_ID, **fields: Any
) -> dict[str, Any]:
    """An update in Telegram's shape (protocols.md §5 fixture); `content` is merged into the message."""
    message = {
        "message_id": fields.pop("message_id", None) or next(_message_ids),
        "from": person(chat_id),
        "chat": {"id": chat_id, "first_name": "Jane", "last_name": "Doe", "username": "janedoe", "type": "private"},
        "date": 1741082400,
        **(content if content is not None else {"text": "Hi, my order #123 hasn't arrived"}),
    }
    return {"update_id": fields.pop("update_id", None) or next(_update_ids), key: message, **fields}


@pytest.fixture
def post_update(client, tg_bot, django_capture_on_commit_callbacks):
    """POST an update to the bot's webhook with the secret, and run its processing."""

    def post(body: Any, *, secret: str | None = SECRET, raw: bytes | None = None):
        import json

        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/webhooks/telegram/{tg_bot.inbox.key}", data=data, content_type="application/json", **headers
            )

    return post
