"""One ASGI application: HTTP (console, widget, API, webhooks) and the WebSockets.

The webhooks registered with the bus (Twilio's messages and status callbacks) are served by its
lean front before Django's request handler (apps/bus/ingest.py); everything else is Django's."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from apps.bus.ingest import WebhookFront  # noqa: E402
from supportdesk.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": WebhookFront(django_asgi_app), "websocket": websocket_application})
