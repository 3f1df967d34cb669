from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.widget.models import WidgetSettings
from tests.factories import InboxFactory

SITE = "https://shop.example.com"
SECRET = "widget_secret_123"


def sign(user_id: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Rate-limit counters live in the cache (Redis): each test counts under a key prefix of its own.

    Not cache.clear(): on Redis that is FLUSHDB, which would also wipe the channel layer of any
    server process running at the time and the keys of other test runs sharing the server.
    """
    cache_settings = {name: dict(value) for name, value in settings.CACHES.items()}
    cache_settings["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = cache_settings
    yield


@pytest.fixture
def window_start():
    """The clock at the start of a rate window (a multiple of 60 s), held still: the limits count
    in fixed windows, and hits that straddled a window's end would be counted in two."""
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    with mock.patch("apps.widget.services.timezone.now", return_value=start):
        yield start


@pytest.fixture
def widget_inbox(db, team, agent) -> Inbox:
    inbox = InboxFactory(name="Shop chat", channel=Inbox.Channel.WIDGET, address="", team=team)
    inbox.members.add(agent)
    WidgetSettings.objects.create(inbox=inbox, allowed_origins=f"{SITE}\nhttp://localhost:3000", secret=SECRET)
    return inbox


class WidgetClient:
    """The widget's side of the HTTP API: JSON with the host page's Origin."""

    def __init__(self, inbox: Inbox, origin: str | None = SITE, ip: str = "203.0.113.5") -> None:
        self.inbox = inbox
        self.origin = origin
        self.ip = ip
        self.http = Client()
        self.token: str | None = None

    def headers(self, token: str | None = None) -> dict[str, str]:
        out: dict[str, str] = {"REMOTE_ADDR": self.ip}
        if self.origin is not None:
            out["HTTP_ORIGIN"] = self.origin
        token = token or self.token
        if token:
            out["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return out

    def session(self, **body):
        body.setdefault("inbox", self.inbox.key)
        if self.token and "token" not in body:
            body["token"] = self.token
        response = self.http.post("/widget/api/session", body, content_type="application/json", **self.headers())
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def send(self, text: str, client_id: str, token: str | None = None):
        return self.http.post(
            "/widget/api/messages",
            {"client_id": client_id, "text": text},
            content_type="application/json",
            **self.headers(token),
        )

    def upload(self, client_id: str, file, text: str = "", token: str | None = None):
        return self.http.post(
            "/widget/api/messages", {"client_id": client_id, "text": text, "file": file}, **self.headers(token)
        )

    def history(self, token: str | None = None, **params):
        return self.http.get("/widget/api/messages", params, **self.headers(token))

    def set_email(self, email: str):
        return self.http.post("/widget/api/email", {"email": email}, content_type="application/json", **self.headers())


@pytest.fixture
def widget(widget_inbox) -> WidgetClient:
    return WidgetClient(widget_inbox)


@pytest.fixture(scope="session")
def _smtp_server():
    from tests.mail.smtp_capture import SmtpCapture

    with SmtpCapture() as server:
        yield server


@pytest.fixture
def smtp(_smtp_server, settings):
    """Outgoing mail goes to a real SMTP server on loopback (aiosmtpd), as EMAIL_URL would say."""
    import environ

    _smtp_server.reset()
    for name, value in environ.Env.email_url_config(_smtp_server.url).items():
        setattr(settings, name, value)
    settings.EMAIL_SEND_TIMEOUT = 5.0
    yield _smtp_server
    _smtp_server.reset()
