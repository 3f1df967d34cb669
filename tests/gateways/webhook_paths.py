"""Every Twilio webhook test twice: through Django's test client, and through the ASGI
application the web processes serve (supportdesk.asgi: the bus's lean front, apps/bus/ingest.py).

A test module under tests/gateways opts in with `BOTH_WEBHOOK_PATHS = True`: each of its tests
that uses `client` (also through `post_twilio`, `receive_sms`) and `transaction=True` runs with
`webhook_path` "django" and "asgi" (tests/gateways/conftest.py). The ASGI variant posts
/webhooks/twilio/* as Twilio does (form-encoded, Content-Length, Host: testserver) through the
real ASGI app with httpx, and fails when such a POST reached Django's handler instead of the
lean front; other requests go to Django's test client as before. The lean front runs the
webhook on its own thread pool and database connection, which cannot see a test's uncommitted
rows: tests without `transaction=True` run through Django only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from asgiref.sync import async_to_sync

# Imported at collection, not inside a test: get_asgi_application() runs django.setup(), which
# configures logging anew and so drops the handler of a running test's caplog (a test asserting
# a log line failed when it was the first ASGI test of its process).
import supportdesk.asgi  # noqa: F401, E402

LEAN_PREFIX = "/webhooks/twilio/"


class AsgiResponse:
    """What the tests read of a Django test response, from an httpx one."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = response.headers

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def has_header(self, name: str) -> bool:
        return name in self.headers


def _headers(extra: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in extra.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = str(value)
    return headers


async def asgi_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[httpx.Response, bool]:
    """Through supportdesk.asgi.application; also whether Django's handler answered it."""
    from supportdesk.asgi import application

    front = application.application_mapping["http"]
    django_app = front.app
    reached_django = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        reached_django.append(scope["path"])
        await django_app(scope, receive, send)

    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 54321))
    front.app = recording
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.request(method, path, content=body, headers=headers)
    finally:
        front.app = django_app
    return response, bool(reached_django)


class AsgiWebhookClient:
    """Django's test client, except that Twilio's webhooks go through supportdesk.asgi."""

    def __init__(self, django_client: Any) -> None:
        self.django_client = django_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.django_client, name)

    def _lean(self, path: str) -> bool:
        return path.startswith(LEAN_PREFIX)

    def post(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any) -> Any:
        if not self._lean(path):
            kwargs = {"content_type": content_type} if content_type else {}
            return self.django_client.post(path, data, **kwargs, **extra)
        if isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
            content_type = content_type or "application/x-www-form-urlencoded"
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data or b""
        headers = _headers(extra)
        if content_type:
            headers["Content-Type"] = content_type
        response, reached_django = async_to_sync(asgi_request)("POST", path, body, headers)
        # A form-encoded POST to a Twilio webhook is the lean front's, never Django's.
        assert not (reached_django and content_type == "application/x-www-form-urlencoded"), path
        return AsgiResponse(response)

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        if not self._lean(path):
            return self.django_client.get(path, data, **extra)
        response, _ = async_to_sync(asgi_request)("GET", path, b"", _headers(extra))
        return AsgiResponse(response)
