from django.urls import path

from apps.gateways.telegram import views

urlpatterns = [
    path("<str:key>", views.webhook, name="telegram-webhook"),
]
