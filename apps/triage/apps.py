from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "apps.triage"
    label = "triage"
    verbose_name = "Triage"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.triage.services import triage_retrain_due

        registry.register_sweep("triage_retrain", triage_retrain_due)
