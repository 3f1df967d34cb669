from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "apps.gateways.telegram"
    label = "telegram"
    verbose_name = "Telegram"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.gateways.telegram.channel import telegram_register

        telegram_register()
