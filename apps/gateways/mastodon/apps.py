from django.apps import AppConfig


class MastodonConfig(AppConfig):
    name = "apps.gateways.mastodon"
    label = "mastodon"
    verbose_name = "Mastodon"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.gateways.mastodon.channel import mastodon_register

        mastodon_register()
