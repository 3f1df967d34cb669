from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports and full-text search (issue 13): read-only selectors, no tables of its own."""

    name = "apps.reports"
    label = "reports"

    def ready(self) -> None:
        from apps.reports import metrics
        from apps.reports.registry import register_metric

        register_metric("sla", metrics.sla_attainment)
        register_metric("csat", metrics.csat_average)
