"""Telling Telegram where to post: setWebhook with the secret (or deleteWebhook, for polling)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from apps.gateways.telegram import client
from apps.gateways.telegram.client import ALLOWED_UPDATES
from apps.gateways.telegram.models import TelegramBot


def webhook_url(bot: TelegramBot) -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/telegram/{bot.inbox.key}"


def _remember_username(bot: TelegramBot) -> None:
    me = client.call(bot.token, "getMe")
    if isinstance(me, dict) and me.get("username"):
        bot.username = str(me["username"])


def webhook_register(bot: TelegramBot) -> str:
    """Point the bot's updates at this desk (PUBLIC_BASE_URL). Pending updates are kept
    (never drop_pending_updates: that would discard customers' messages). Returns the URL."""
    _remember_username(bot)
    url = webhook_url(bot)
    client.call(
        bot.token,
        "setWebhook",
        {"url": url, "secret_token": bot.webhook_secret, "allowed_updates": ALLOWED_UPDATES},
    )
    bot.mode = TelegramBot.Mode.WEBHOOK
    bot.webhook_set_at = timezone.now()
    bot.last_error = ""
    bot.save(update_fields=["mode", "webhook_set_at", "last_error", "username"])
    return url


def webhook_remove(bot: TelegramBot) -> None:
    """Stop the webhook and poll instead (getUpdates does not work while a webhook is set)."""
    _remember_username(bot)
    client.call(bot.token, "deleteWebhook", {"drop_pending_updates": False})
    bot.mode = TelegramBot.Mode.POLLING
    bot.webhook_set_at = None
    bot.save(update_fields=["mode", "webhook_set_at", "username"])


def webhook_info(bot: TelegramBot) -> dict:
    """getWebhookInfo: the URL, pending_update_count, last_error_date and last_error_message."""
    info = client.call(bot.token, "getWebhookInfo")
    return info if isinstance(info, dict) else {}
