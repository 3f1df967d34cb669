"""WebSocket URL routing.

The console socket goes through the session/token authentication stack; the widget socket is a
plain ASGI app that authenticates visitors itself (apps.widget.consumers) and skips that stack:
it costs memory per socket, and a visitor has no session cookie to read.
"""

from channels.routing import URLRouter
from django.urls import path

from apps.console.auth import ConsoleAuthMiddleware
from apps.console.consumers import ConsoleConsumer
from apps.widget.consumers import widget_socket

websocket_urlpatterns = [
    path("ws/console/", ConsoleAuthMiddleware(ConsoleConsumer.as_asgi())),
    path("ws/widget/", widget_socket),  # type: ignore[arg-type]  # an ASGI app, not a Django view
]

websocket_application = URLRouter(websocket_urlpatterns)
