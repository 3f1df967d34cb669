from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "apps.bus"
    label = "bus"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from apps.bus.health import BusHealthCollector

        # /metrics reads the bus's health from the database at scrape time.
        REGISTRY.register(BusHealthCollector())
