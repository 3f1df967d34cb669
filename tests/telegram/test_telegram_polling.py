"""Long polling (getUpdates with offsets) and registering the webhook (command and admin)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.telegram.models import TelegramBot
from apps.gateways.telegram.polling import poll_claim, poll_loop, poll_once
from tests.telegram.conftest import SECRET, TOKEN, update

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def polling_bot(tg_bot, telegram_server):
    tg_bot.mode = TelegramBot.Mode.POLLING
    tg_bot.save()
    return tg_bot


def test_updates_are_journalled_then_the_offset_moves_past_them(polling_bot, telegram_server):
    first, second = update({"text": "one"}, update_id=5001), update({"text": "two"}, update_id=5002)
    telegram_server.push_update(TOKEN, first)
    telegram_server.push_update(TOKEN, second)
    assert poll_once(polling_bot, timeout=0) == 2
    [call] = telegram_server.calls_of("getUpdates")
    assert "offset" not in call.params  # the first call starts at the oldest unconfirmed update
    assert call.params["allowed_updates"] == ["message", "edited_message", "my_chat_member"]
    polling_bot.refresh_from_db()
    assert polling_bot.update_offset == 5003
    assert sorted(Message.objects.filter(channel="telegram").values_list("body", flat=True)) == ["one", "two"]
    # The next call confirms them with the offset; Telegram then forgets them.
    assert poll_once(polling_bot, timeout=0) == 0
    assert telegram_server.calls_of("getUpdates")[-1].params["offset"] == 5003
    assert telegram_server.updates[TOKEN] == []


def test_a_replay_after_a_crash_is_stored_once(polling_bot, telegram_server):
    """The updates were journalled but the offset was not saved (the poller died): they come again."""
    telegram_server.push_update(TOKEN, update({"text": "again"}, update_id=6001))
    poll_once(polling_bot, timeout=0)
    TelegramBot.objects.filter(pk=polling_bot.pk).update(update_offset=0)
    polling_bot.refresh_from_db()
    # Not confirmed by an offset: Telegram serves it again.
    assert poll_once(polling_bot, timeout=0) == 1
    assert InboundEntry.objects.filter(provider_message_id="6001").count() == 1
    assert Message.objects.filter(body="again").count() == 1


def test_the_webhook_and_polling_share_the_dedupe_key(polling_bot, post_update, telegram_server):
    u = update({"text": "both ways"}, update_id=6100)
    post_update(u)
    telegram_server.push_update(TOKEN, u)
    poll_once(polling_bot, timeout=0)
    assert Message.objects.filter(body="both ways").count() == 1


def test_an_error_is_recorded_and_backed_off_and_the_offset_kept(polling_bot, telegram_server):
    from tests.fakes.telegram_server import error

    telegram_server.script("getUpdates", error(502, "Bad Gateway"))
    telegram_server.push_update(TOKEN, update({"text": "after the outage"}, update_id=7001))
    stop = threading.Event()
    waits: list[float] = []
    real_wait = stop.wait

    def wait(seconds: float | None = None) -> bool:  # the loop's backoff: record it, do not sleep
        waits.append(seconds or 0)
        return real_wait(0.01)

    stop.wait = wait  # type: ignore[method-assign]
    thread = threading.Thread(target=poll_loop, args=(polling_bot.pk, stop), kwargs={"owner": "test", "timeout": 0})
    thread.start()
    deadline = time.monotonic() + 20
    while not Message.objects.filter(body="after the outage").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert waits[0] == 2.0  # backed off after the 502
    assert Message.objects.filter(body="after the outage").count() == 1
    polling_bot.refresh_from_db()
    assert polling_bot.update_offset == 7002
    assert polling_bot.poll_owner == ""  # released on the way out


def test_one_poller_per_bot(polling_bot):
    assert poll_claim(polling_bot.pk, "host-a")
    assert not poll_claim(polling_bot.pk, "host-b")
    assert poll_claim(polling_bot.pk, "host-a")  # renewing its own lease


def test_polling_while_a_webhook_is_set_says_what_to_do(polling_bot, telegram_server):
    from apps.gateways.telegram.client import TelegramError
    from apps.gateways.telegram.polling import _trouble

    telegram_server.webhooks[TOKEN] = {"url": "https://x"}
    with pytest.raises(TelegramError) as caught:
        poll_once(polling_bot, timeout=0)
    assert caught.value.error_code == 409
    _trouble(polling_bot.pk, caught.value)
    polling_bot.refresh_from_db()
    assert "telegram_webhook --delete" in polling_bot.last_error


def test_run_telegram_once_polls_every_polling_bot(polling_bot, telegram_server, capsys):
    telegram_server.push_update(TOKEN, update({"text": "via the command"}, update_id=8001))
    call_command("run_telegram", "--once")
    assert Message.objects.filter(body="via the command").count() == 1


def test_the_webhook_command_registers_url_secret_and_updates(tg_bot, telegram_server, settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    call_command("telegram_webhook", tg_bot.inbox.name)
    hook = telegram_server.webhooks[TOKEN]
    assert hook == {
        "url": f"https://desk.example.com/webhooks/telegram/{tg_bot.inbox.key}",
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "my_chat_member"],
        "drop_pending_updates": None,  # never discards what customers sent meanwhile
    }
    tg_bot.refresh_from_db()
    assert (tg_bot.mode, tg_bot.username) == (TelegramBot.Mode.WEBHOOK, "desk_bot")
    call_command("telegram_webhook", str(tg_bot.inbox_id), "--delete")
    assert TOKEN not in telegram_server.webhooks
    tg_bot.refresh_from_db()
    assert tg_bot.mode == TelegramBot.Mode.POLLING


def test_the_admin_action_registers_the_webhook(tg_bot, telegram_server, admin_client):
    response = admin_client.post(
        "/admin/telegram/telegrambot/",
        {"action": "register_webhook", "_selected_action": [tg_bot.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert telegram_server.webhooks[TOKEN]["secret_token"] == SECRET
    assert "webhook set to" in response.content.decode()
