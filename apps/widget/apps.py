from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "apps.widget"
    label = "widget"

    def ready(self) -> None:
        from apps.core.metrics import SocketStats, socket_source_register
        from apps.widget.hub import hub

        socket_source_register("widget", lambda: SocketStats(*hub.socket_stats()))
