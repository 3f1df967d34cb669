"""One ASGI application: HTTP (console, widget, API, webhooks) and the WebSockets.

The webhooks registered with the bus (Twilio's messages and status callbacks) are served by its
lean front before Django's request handler (apps/bus/ingest.py); the API's GET/HEAD requests by
Django's synchronous handler in a thread pool (apps/core/sync_http.py); everything else is Django's
ASGI handler."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.bus.ingest import WebhookFront  # noqa: E402
from apps.core.sync_http import SyncHTTP  # noqa: E402
from supportdesk.routing import websocket_application  # noqa: E402

# The webhooks' lean front (apps/bus/ingest.py), then the API's reads through Django's
# synchronous handler in a thread pool (apps/core/sync_http.py), then Django's ASGI handler.
http_application = WebhookFront(SyncHTTP(django_asgi_app, threads=settings.SYNC_HTTP_THREADS))
application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application})
