from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "apps.gateways"
    label = "gateways"

    def ready(self) -> None:
        from apps.gateways.twilio.channel import twilio_register

        twilio_register()
