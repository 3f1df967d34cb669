from django.apps import AppConfig


class XmppConfig(AppConfig):
    name = "apps.gateways.xmpp"
    label = "xmpp"
    verbose_name = "XMPP channel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.gateways.xmpp.channel import xmpp_register

        xmpp_register()
