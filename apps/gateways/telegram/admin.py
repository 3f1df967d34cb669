from django.contrib import admin, messages

from apps.gateways.telegram.client import TelegramError, TelegramUnreachable
from apps.gateways.telegram.models import TelegramBot
from apps.gateways.telegram.webhook import webhook_register, webhook_remove


@admin.register(TelegramBot)
class TelegramBotAdmin(admin.ModelAdmin):
    """A Telegram inbox's bot: token, webhook secret, webhook or long polling."""

    list_display = ("inbox", "username", "mode", "webhook_set_at", "update_offset", "last_polled_at", "last_error")
    readonly_fields = ("username", "update_offset", "last_polled_at", "webhook_set_at", "last_error", "poll_owner")
    actions = ["register_webhook", "switch_to_polling"]

    @admin.action(description="Register the webhook (setWebhook with the secret)")
    def register_webhook(self, request, queryset):  # type: ignore[no-untyped-def]
        for bot in queryset.select_related("inbox"):
            try:
                url = webhook_register(bot)
                self.message_user(request, f"{bot}: webhook set to {url}")
            except (TelegramError, TelegramUnreachable) as exc:
                self.message_user(request, f"{bot}: {exc}", level=messages.ERROR)

    @admin.action(description="Remove the webhook and poll instead (manage.py run_telegram)")
    def switch_to_polling(self, request, queryset):  # type: ignore[no-untyped-def]
        for bot in queryset.select_related("inbox"):
            try:
                webhook_remove(bot)
                self.message_user(request, f"{bot}: webhook removed; polled from now on")
            except (TelegramError, TelegramUnreachable) as exc:
                self.message_user(request, f"{bot}: {exc}", level=messages.ERROR)
