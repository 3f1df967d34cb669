from django.urls import path

from apps.widget import views

urlpatterns = [
    path("api/session", views.session, name="widget-session"),
    path("api/messages", views.messages, name="widget-messages"),
    path("api/email", views.email, name="widget-email"),
    path("api/csat", views.csat, name="widget-csat"),
    path("api/files/<str:signed>", views.file, name="widget-file"),
]
