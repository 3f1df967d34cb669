from django.contrib import admin
from django.urls import include, path

from apps.api import file_views
from apps.core import metrics as core_metrics
from apps.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz),
    path("readyz", core_views.readyz),
    path("favicon.ico", core_views.favicon),
    path("metrics", core_metrics.metrics),
    path("admin/", admin.site.urls),
    path("webhooks/twilio/", include("apps.gateways.twilio.urls")),
    path("webhooks/email/", include("apps.gateways.email.urls")),
    path("webhooks/telegram/", include("apps.gateways.telegram.urls")),
    path("api/v1/", include("apps.api.urls")),
    path("files/<str:token>/<str:name>", file_views.provider_file, name="provider-file"),
    path("console/", include("apps.console.urls")),
    path("csat/", include("apps.csat.urls")),
    path("widget/", include("apps.widget.urls")),
    # `/widget.js` and `/widget/demo/` (apps/widget/page_urls.py), before the "" home route.
    path("", include("apps.widget.page_urls")),
    path("", core_views.home),
]
