from django.urls import path

from apps.widget import queue, views

urlpatterns = [
    path("api/session", views.session, name="widget-session"),
    path("api/messages", views.messages, name="widget-messages"),
    path("api/queue", queue.queue, name="widget-queue"),
    path("api/email", views.email, name="widget-email"),
    path("api/link", views.link, name="widget-link"),
    path("api/csat", views.csat, name="widget-csat"),
    path("api/files/<str:signed>", views.file, name="widget-file"),
]
