from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "apps.console"
    label = "console"

    def ready(self) -> None:
        from apps.console.hub import hub
        from apps.core.metrics import SocketStats, socket_source_register

        socket_source_register("console", lambda: SocketStats(*hub.stats()))
