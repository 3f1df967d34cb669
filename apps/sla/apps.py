from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "apps.sla"
    label = "sla"
    verbose_name = "Service levels"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.sla.services import sla_sweep

        registry.register_sweep("sla", sla_sweep)
