from django.contrib.auth import views as auth_views
from django.urls import path

from apps.console import hooks_pages, views

urlpatterns = [
    path("", views.console, name="console"),
    path("admin/webhooks/", hooks_pages.webhooks_page, name="console-webhooks"),
    path("admin/broadcasts/", hooks_pages.broadcasts_page, name="console-broadcasts"),
    path("triage/", views.triage, name="console-triage"),
    path("routing/", views.routing, name="console-routing"),
    path("settings/", views.console_settings, name="console-settings"),
    path("reports/", views.reports, name="console-reports"),
    path("login/", views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/console/login/"), name="logout"),
]
