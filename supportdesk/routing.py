"""WebSocket URL routing."""

from channels.routing import URLRouter
from django.urls import path

from apps.console.auth import ConsoleAuthMiddleware
from apps.console.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
]

websocket_application = ConsoleAuthMiddleware(URLRouter(websocket_urlpatterns))
