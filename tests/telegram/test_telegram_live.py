"""End to end through a live `manage.py serve` (uvicorn): an update posted to its Telegram webhook
reaches an agent's console socket; the agent's reply through the API goes out with sendMessage
to the local Bot API server; and a bot in polling mode is long-polled by the server itself."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import requests
import websockets
from rest_framework.authtoken.models import Token

from apps.conversations.models import Message
from apps.gateways.telegram.models import TelegramBot
from tests.requires import needs_postgres_and_redis
from tests.servers import start_server, stop_server
from tests.telegram.conftest import CHAT_ID, SECRET, TOKEN, update

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, needs_postgres_and_redis]


def _wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.django_db(transaction=True)
def test_webhook_to_console_and_reply_out(tg_bot, tg_agent, telegram_server, tmp_path):
    token = Token.objects.create(user=tg_agent).key
    server = start_server(tmp_path, TELEGRAM_API_BASE_URL=telegram_server.base_url)
    try:
        u = update({"text": "live from Telegram"})
        port = server.url.rsplit(":", 1)[1]

        async def scenario() -> dict:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/console/?token={token}") as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
                url = f"{server.url}/webhooks/telegram/{tg_bot.inbox.key}"
                refused = await asyncio.to_thread(requests.post, url, json=u, timeout=10)
                assert refused.status_code == 403
                answer = await asyncio.to_thread(
                    requests.post, url, json=u, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10
                )
                assert answer.status_code == 200
                deadline = time.monotonic() + 10
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01)))
                    if frame.get("type") == "message.created":
                        return frame

        frame = asyncio.run(scenario())
        assert frame["data"]["body"] == "live from Telegram"
        assert frame["data"]["channel"] == "telegram"
        inbound = Message.objects.get(body="live from Telegram")
        reply = requests.post(
            f"{server.url}/api/v1/conversations/{inbound.conversation_id}/messages",
            json={"body": "answered from the console", "client_id": "live-1"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert reply.status_code in (200, 201), reply.text
        call = _wait_for(lambda: telegram_server.calls_of("sendMessage"))[0]
        assert call.token == TOKEN
        assert call.params == {"chat_id": str(CHAT_ID), "text": "answered from the console"}
        sent = _wait_for(lambda: Message.objects.filter(body="answered from the console", status="delivered").first())
        assert sent.provider_id.startswith(f"{CHAT_ID}:")
    finally:
        stop_server(server)


@pytest.mark.django_db(transaction=True)
def test_serve_long_polls_a_bot_in_polling_mode(tg_bot, telegram_server, tmp_path):
    TelegramBot.objects.filter(pk=tg_bot.pk).update(mode=TelegramBot.Mode.POLLING)
    telegram_server.push_update(TOKEN, update({"text": "polled by serve"}, update_id=9100))
    server = start_server(tmp_path, TELEGRAM_API_BASE_URL=telegram_server.base_url, TELEGRAM_POLL_TIMEOUT="1")
    try:
        message = _wait_for(lambda: Message.objects.filter(body="polled by serve").first(), timeout=20)
        assert message.channel == "telegram"
        _wait_for(lambda: TelegramBot.objects.get(pk=tg_bot.pk).update_offset == 9101)
        _wait_for(lambda: telegram_server.updates[TOKEN] == [])  # confirmed by the next call
    finally:
        stop_server(server)
