from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "apps.routing"
    label = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from apps.routing import signals  # noqa: F401 - cache invalidation on change
