"""The lean ASGI front (apps/bus/ingest.py) answers Twilio's webhooks as Django's view does.

The webhook tests of this folder run through both paths (conftest.py); these compare the two
answers byte for byte (status, body, every header but the request id's value), and cover what
only the front does: which requests it hands to Django, the request id, the histogram, the
answer to an exception, the database connection it gives back.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from prometheus_client import REGISTRY

from apps.bus.models import InboundEntry, StatusReceipt
from tests.conftest import row_counts, twilio_params, twilio_sign

INBOUND = "/webhooks/twilio/messages"
STATUS = "/webhooks/twilio/status"
FORM = "application/x-www-form-urlencoded"

pytestmark = pytest.mark.django_db(transaction=True)


async def _post(app: Any, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 54321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path, content=body, headers=headers)


def post(app: Any, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> httpx.Response:
    return async_to_sync(_post)(app, path, body, headers, method)


def apps() -> tuple[Any, Any]:
    """(the served ASGI application with the front, Django's ASGI handler alone)."""
    from supportdesk.asgi import application, django_asgi_app

    return application, django_asgi_app


def signed(path: str, params: dict[str, str], **headers: str) -> tuple[bytes, dict[str, str]]:
    return urlencode(params).encode(), {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_sign(path, params),
        **headers,
    }


def comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers.pop("x-request-id")
    return response.status_code, response.content, headers


def django_reached(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths that reached Django's handler behind the front."""
    from supportdesk.asgi import application

    front = application.application_mapping["http"]
    inner = front.app
    reached: list[str] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await inner(scope, receive, send)

    monkeypatch.setattr(front, "app", recording)
    return reached


@pytest.mark.parametrize("path", [INBOUND, STATUS])
def test_the_answer_is_djangos_byte_for_byte(sms_inbox, path, monkeypatch):
    front, django_app = apps()
    reached = django_reached(monkeypatch)
    answers = []
    for app in (django_app, front):
        params = twilio_params(MessageStatus="delivered")
        answers.append(comparable(post(app, path, *signed(path, params))))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
    assert reached == []  # the second one was the front's
    assert InboundEntry.objects.count() + StatusReceipt.objects.count() == 2


def test_a_refusal_is_djangos_byte_for_byte(sms_inbox):
    front, django_app = apps()
    params = twilio_params()
    body, headers = signed(INBOUND, params)
    headers["X-Twilio-Signature"] = twilio_sign(INBOUND, params, token="forged")
    answers = [comparable(post(app, INBOUND, body, headers)) for app in (django_app, front)]
    assert answers[0] == answers[1]
    assert answers[0][:2] == (403, b"invalid signature")
    assert set(row_counts().values()) == {0}


def test_security_headers_behind_a_tls_proxy_are_djangos(sms_inbox, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    from django.core.handlers.asgi import ASGIHandler

    from apps.bus.ingest import WebhookFront

    django_app = ASGIHandler()  # Django's middleware reads these settings when it is loaded
    front = WebhookFront(django_app)
    answers = []
    for app in (django_app, front):
        answers.append(
            comparable(post(app, INBOUND, *signed(INBOUND, twilio_params(), **{"X-Forwarded-Proto": "https"})))
        )
    assert answers[0] == answers[1]
    assert answers[0][2]["strict-transport-security"] == "max-age=3600; includeSubDomains"


def test_the_signed_url_is_the_public_base_url_with_the_query(sms_inbox, settings):
    settings.PUBLIC_BASE_URL = "https://support.example.com"
    front, _ = apps()
    params = {"AccountSid": twilio_params()["AccountSid"], "MessageSid": "SM" + "5" * 32, "MessageStatus": "sent"}
    body, headers = signed(STATUS + "?m=42", params)
    assert post(front, STATUS + "?m=42", body, headers).status_code == 200
    assert StatusReceipt.objects.get().message_ref == 42
    # Signed for the URL without the query: refused.
    body, headers = signed(STATUS, params)
    assert post(front, STATUS + "?m=43", body, headers).status_code == 403


def test_request_id_and_refusal_log_line(sms_inbox, caplog):
    front, _ = apps()
    params = twilio_params()
    body, headers = signed(INBOUND, params, **{"X-Request-ID": "probe-7"})
    headers["X-Twilio-Signature"] = "forged"
    with caplog.at_level(logging.WARNING, logger="apps.gateways.twilio.views"):
        response = post(front, INBOUND, body, headers)
    assert response.status_code == 403
    assert response.headers["X-Request-ID"] == "probe-7"
    [record] = [r for r in caplog.records if r.name == "apps.gateways.twilio.views"]
    assert record.request_id == "probe-7"
    assert "/webhooks/twilio/messages refused: bad or missing signature (from 127.0.0.1)" in record.getMessage()
    assert post(front, INBOUND, *signed(INBOUND, twilio_params())).headers["X-Request-ID"]  # a new one


def test_the_request_histogram_counts_the_route(sms_inbox):
    front, _ = apps()
    labels = {"method": "POST", "route": "webhooks/twilio/messages", "status": "200"}
    name = "supportdesk_http_request_duration_seconds_count"
    before = REGISTRY.get_sample_value(name, labels) or 0
    post(front, INBOUND, *signed(INBOUND, twilio_params()))
    assert REGISTRY.get_sample_value(name, labels) == before + 1


def test_what_is_not_a_plain_form_post_goes_to_django(sms_inbox, settings, monkeypatch):
    front, _ = apps()
    reached = django_reached(monkeypatch)
    # GET: Django's 405.
    assert post(front, INBOUND, b"", {}, method="GET").status_code == 405
    # multipart/form-data (what Django's test client posts): Django's view, same function.
    params = twilio_params(Body="multipart")
    request = httpx.Request("POST", "http://testserver/", data=params, files={"x": ("x.txt", b"x")})
    request.read()
    multipart = {"Content-Type": request.headers["Content-Type"], "X-Twilio-Signature": twilio_sign(INBOUND, params)}
    response = post(front, INBOUND, request.content, multipart)
    assert response.status_code == 200
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE: Django's 400, nothing stored.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post(front, INBOUND, *signed(INBOUND, twilio_params(Body="x" * 200)))
    assert response.status_code == 400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
    # A Host that is not allowed: Django's 400.
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    body, headers = signed(INBOUND, twilio_params())
    assert post(front, INBOUND, body, headers).status_code == 400
    assert reached == [INBOUND] * 4
    assert InboundEntry.objects.count() == 1  # the multipart one


def test_an_exception_is_answered_as_django_answers_it(sms_inbox, monkeypatch, caplog):
    def broken(**kwargs: Any) -> None:
        raise OperationalError("the database went away")

    monkeypatch.setattr("apps.gateways.twilio.views.inbound_accept", broken)
    front, django_app = apps()
    answers = []
    with caplog.at_level(logging.ERROR, logger="django.request"):
        for app in (django_app, front):
            answers.append(comparable(post(app, INBOUND, *signed(INBOUND, twilio_params()))))
    assert answers[0][0] == 500
    assert answers[0] == answers[1]
    errors = [r for r in caplog.records if r.name == "django.request"]
    assert len(errors) == 2 and all(r.exc_info and r.exc_info[0] is OperationalError for r in errors)


def test_the_pool_thread_gives_its_database_connection_back(sms_inbox):
    from django.db import connection

    from apps.bus import ingest

    front, _ = apps()
    for _ in range(3):
        assert post(front, INBOUND, *signed(INBOUND, twilio_params())).status_code == 200

    def open_connections() -> bool:
        return connection.connection is not None

    assert not any(ingest._pool().submit(open_connections).result() for _ in range(ingest.threads()))


def test_routes_are_the_urlconfs(sms_inbox):
    from apps.bus import ingest, registry

    saved = registry.snapshot()
    try:
        registry.register_webhook("no-such-url", lambda request: ingest.WebhookAnswer(200, b"", "text/plain"))
        routes = ingest.WebhookFront(apps()[1]).routes()
    finally:
        registry.restore(saved)
    assert {path: route for path, (_, route) in routes.items()} == {
        INBOUND: "webhooks/twilio/messages",
        STATUS: "webhooks/twilio/status",
    }
