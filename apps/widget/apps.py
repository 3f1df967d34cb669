from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "apps.widget"
    label = "widget"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.core.metrics import SocketStats, socket_source_register
        from apps.widget.gateway import WidgetGateway
        from apps.widget.hub import hub
        from apps.widget.offline import offline_email_sweep

        registry.register_sender("widget", gateway=WidgetGateway, carries_files=True)
        # The widget's unread replies, mailed once to a visitor who left.
        registry.register_sweep("widget_offline_email", offline_email_sweep)
        socket_source_register("widget", lambda: SocketStats(*hub.socket_stats()))
