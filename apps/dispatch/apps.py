from django.apps import AppConfig


class RoutingConfig(AppConfig):
    # The package is `dispatch`, not `routing`: DESIGN.md §3 keeps modules named routing.py for
    # WebSocket URL routing. The app label (tables, migrations) stays "routing".
    name = "apps.dispatch"
    label = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from apps.dispatch import signals  # noqa: F401 - cache invalidation on change
