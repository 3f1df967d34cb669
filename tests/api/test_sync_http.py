"""The API's reads through Django's synchronous handler (apps/core/sync_http.py, issue 14): the same
answers, status codes and headers as Django's ASGI handler; everything else still goes to it."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application

from apps.core.sync_http import SyncHTTP, wsgi_environ
from tests.factories import ContactFactory, ConversationFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the pool thread has its own connection


def _scope(method: str, path: str, query: str = "", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def _call(app, scope: dict, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    async def run() -> tuple[int, dict[bytes, bytes], bytes]:
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(10)
        content = b""
        while True:
            message = await communicator.receive_output(10)
            content += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await communicator.wait(10)
        return start["status"], {k.lower(): v for k, v in start["headers"]}, content

    return async_to_sync(run)()


@pytest.fixture
def apps_pair():
    django_app = get_asgi_application()
    return SyncHTTP(django_app, threads=2), django_app


@pytest.fixture
def listed(agent, sms_inbox):
    contact = ContactFactory(name="Omar Haddad")
    IdentityFactory(contact=contact, kind="phone", address="+14155550101")
    return [ConversationFactory(inbox=sms_inbox, contact=contact, assignee=agent if i % 2 else None) for i in range(3)]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/conversations", "view=all&sort=recent"),
        ("/api/v1/conversations", "view=mine&sort=waiting&limit=1"),
        ("/api/v1/conversations", "sort=nonsense"),  # 400, the error's JSON
        ("/api/v1/contacts", "q=omar"),
        ("/api/v1/me", ""),
        ("/api/v1/nowhere", ""),  # 404
    ],
)
def test_reads_answer_as_the_asgi_handler_does(apps_pair, token, listed, path, query):
    sync_app, django_app = apps_pair
    headers = [(b"authorization", f"Token {token}".encode())]
    assert sync_app.handles(_scope("GET", path, query, headers))
    fast = _call(sync_app, _scope("GET", path, query, headers))
    slow = _call(django_app, _scope("GET", path, query, headers))
    assert fast[0] == slow[0]
    assert fast[2] == slow[2]
    assert fast[1].keys() == slow[1].keys()
    for name in (b"content-type", b"vary", b"allow", b"x-frame-options", b"x-content-type-options"):
        assert fast[1].get(name) == slow[1].get(name), name
    assert fast[1][b"x-request-id"]


def test_unauthenticated_read_is_refused_the_same_way(apps_pair, listed):
    sync_app, django_app = apps_pair
    fast = _call(sync_app, _scope("GET", "/api/v1/conversations"))
    slow = _call(django_app, _scope("GET", "/api/v1/conversations"))
    assert fast[0] == slow[0] == 401
    assert fast[1].get(b"www-authenticate") == slow[1].get(b"www-authenticate")
    assert fast[2] == slow[2]


def test_head_has_no_body(apps_pair, token, listed):
    sync_app, _ = apps_pair
    status, headers, body = _call(
        sync_app, _scope("HEAD", "/api/v1/me", headers=[(b"authorization", f"Token {token}".encode())])
    )
    assert status == 200 and body == b""


def test_only_api_reads_take_the_synchronous_path(apps_pair, token, listed):
    sync_app, _ = apps_pair
    assert not sync_app.handles(_scope("POST", "/api/v1/conversations/1/read"))
    assert not sync_app.handles(_scope("PATCH", "/api/v1/conversations/1"))
    assert not sync_app.handles(_scope("GET", "/api/v1/attachments/3"))
    assert not sync_app.handles(_scope("GET", "/console/"))
    assert not sync_app.handles({"type": "websocket", "path": "/api/v1/ws"})
    assert not SyncHTTP(sync_app.fallback, threads=0).handles(_scope("GET", "/api/v1/me"))
    # A write still goes through the ASGI handler and works.
    conversation = listed[0]
    patch = json.dumps({"status": "resolved"}).encode()
    status, _, body = _call(
        sync_app,
        _scope(
            "PATCH",
            f"/api/v1/conversations/{conversation.pk}",
            headers=[
                (b"authorization", f"Token {token}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(patch)).encode()),
            ],
        ),
        patch,
    )
    assert status == 200, body
    assert json.loads(body)["status"] == "resolved"


def test_environ_has_what_asgi_request_meta_has():
    environ = wsgi_environ(
        _scope(
            "GET",
            "/api/v1/me",
            "a=1",
            [(b"cookie", b"a=1; "), (b"cookie", b"b=2"), (b"accept", b"text/html"), (b"accept", b"*/*")],
        ),
        b"",
    )
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_ACCEPT"] == "text/html,*/*"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["QUERY_STRING"] == "a=1"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("testserver", "80")
