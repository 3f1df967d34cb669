from django.urls import path

from apps.gateways.email import views

urlpatterns = [
    path("inbound", views.inbound, name="email-inbound"),
]
