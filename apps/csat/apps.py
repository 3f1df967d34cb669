from django.apps import AppConfig


class CsatConfig(AppConfig):
    name = "apps.csat"
    label = "csat"
    verbose_name = "Satisfaction"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.conversations.hooks import register_inbound_claim
        from apps.csat.services import csat_surveys_send, survey_claim

        register_inbound_claim(survey_claim)
        registry.register_sweep("csat", csat_surveys_send)
