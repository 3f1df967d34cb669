from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports and full-text search (issue 13): read-only selectors, no tables of its own."""

    name = "apps.reports"
    label = "reports"
