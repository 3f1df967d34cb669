from django.apps import AppConfig


class BroadcastsConfig(AppConfig):
    name = "apps.broadcasts"
    label = "broadcasts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.broadcasts.services import broadcasts_job
        from apps.bus import registry

        registry.register_job("broadcasts", broadcasts_job)
