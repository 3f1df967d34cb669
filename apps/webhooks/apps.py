from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.webhooks.services import webhooks_job

        registry.register_job("webhooks", webhooks_job)
