"""Bench-only URLconf: the project's URLs plus the baseline view.

Selected with ROOT_URLCONF=bench.urls (settings read it from the environment); never used by
the project itself.
"""

from django.urls import include, path

from bench.baseline_urls import urlpatterns as baseline_urlpatterns

urlpatterns = [*baseline_urlpatterns, path("", include("supportdesk.urls"))]
