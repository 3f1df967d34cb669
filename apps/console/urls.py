from django.contrib.auth import views as auth_views
from django.urls import path

from apps.console import views

urlpatterns = [
    path("", views.console, name="console"),
    path("reports/", views.reports, name="console-reports"),
    path("login/", views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/console/login/"), name="logout"),
]
