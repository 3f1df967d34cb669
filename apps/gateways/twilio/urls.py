from django.urls import path

from apps.gateways.twilio import views

urlpatterns = [
    path("messages", views.inbound_message, name="twilio-inbound"),
    path("status", views.status_callback, name="twilio-status"),
]
