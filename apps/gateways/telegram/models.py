"""A Telegram inbox's bot: its token, the webhook secret, and how far long polling has got."""

from __future__ import annotations

import secrets

from django.db import models

from apps.accounts.models import Inbox


def new_webhook_secret() -> str:
    # setWebhook's secret_token: 1-256 characters of A-Z a-z 0-9 _ - (token_urlsafe's alphabet).
    return secrets.token_urlsafe(32)


class TelegramBot(models.Model):
    class Mode(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (Telegram posts to /webhooks/telegram/<inbox key>)"
        POLLING = "polling", "Long polling (manage.py run_telegram; no public URL needed)"

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="telegram_bot")
    token = models.CharField(max_length=200, help_text="The bot token from @BotFather (123456:ABC…).")
    webhook_secret = models.CharField(
        max_length=256,
        default=new_webhook_secret,
        help_text="Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every webhook request.",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.POLLING)
    username = models.CharField(max_length=64, blank=True, help_text="The bot's @username (from getMe).")
    # Long polling: the next getUpdates offset (the highest update_id made durable, plus one).
    update_offset = models.BigIntegerField(default=0)
    poll_owner = models.CharField(max_length=120, blank=True)
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    webhook_set_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else f"bot {self.bot_id}"

    @property
    def bot_id(self) -> str:
        """The numeric id before the token's colon: stable when the token is revoked and reissued."""
        return self.token.split(":", 1)[0]

    @property
    def source(self) -> str:
        """The journal source its updates are deduplicated under (with their update_id)."""
        return f"telegram:{self.bot_id}"
