"""Content-Security-Policy (issue 10, security finding 2): every HTML page the desk serves carries
a strict policy, and its templates need nothing the policy forbids (no inline script, handler
or style). tests/browser runs the pages in Chromium under the policy and fails on a violation."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.models import Inbox
from apps.widget.models import WidgetSettings
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in directives, f"{name} twice in {header}"
        directives[name] = values
    return directives


def assert_strict(directives: dict[str, list[str]], *, socket_origin: str = "ws://testserver") -> None:
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["connect-src"] == ["'self'", socket_origin]
    assert not any("'unsafe-eval'" in values for values in directives.values())
    assert "report-uri" not in directives


@pytest.fixture
def demo_inbox(db) -> Inbox:
    inbox = InboxFactory(name="Demo widget", channel=Inbox.Channel.WIDGET, address="")
    WidgetSettings.objects.create(inbox=inbox, secret="s3cret-widget")
    return inbox


def test_console_page_has_a_strict_policy(client: Client, agent):
    client.force_login(agent)
    response = client.get("/console/")
    assert response.status_code == 200
    directives = policy(response)
    assert_strict(directives)
    # The mail's "Show formatted" frame (srcdoc) inherits this policy: its inline styles and,
    # once the agent asks for them, its remote images. Scripts stay 'self' only.
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["img-src"] == ["'self'", "data:", "blob:", "https:", "http:"]


def test_login_page_has_a_strict_policy_with_no_inline_style(client: Client):
    response = client.get("/console/login/")
    assert response.status_code == 200
    directives = policy(response)
    assert_strict(directives)
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:", "blob:"]


def test_admin_pages_have_a_strict_script_policy(client: Client, agent):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    directives = policy(response)
    assert_strict(directives)
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]  # Django's own style attributes


def test_widget_demo_page_has_a_strict_policy(client: Client, demo_inbox):
    response = client.get("/widget/demo/")
    assert response.status_code == 200
    directives = policy(response)
    assert_strict(directives)
    assert directives["style-src"] == ["'self'"]


def test_a_secure_request_allows_the_wss_socket(client: Client):
    response = client.get("/console/login/", secure=True)
    assert_strict(policy(response), socket_origin="wss://testserver")


def test_report_uri_is_added_when_set(client: Client, settings):
    settings.CSP_REPORT_URI = "https://reports.example.com/csp"
    directives = policy(client.get("/console/login/"))
    assert directives["report-uri"] == ["https://reports.example.com/csp"]


def test_json_answers_carry_no_page_policy(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


def test_a_view_with_its_own_policy_keeps_it(client: Client, agent):
    """The widget's stored files answer with `default-src 'none'; sandbox` (apps/widget/views.py)."""
    from django.http import HttpResponse

    from apps.core.csp import ContentSecurityPolicyMiddleware

    own = "default-src 'none'; sandbox"

    def view(request):
        response = HttpResponse("<p>file</p>", content_type="text/html")
        response["Content-Security-Policy"] = own
        return response

    from django.test import RequestFactory

    response = ContentSecurityPolicyMiddleware(view)(RequestFactory().get("/widget/api/files/x"))
    assert response["Content-Security-Policy"] == own


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


@pytest.mark.parametrize("path", ["/console/", "/console/login/", "/widget/demo/"])
def test_pages_need_no_inline_script_handler_or_style(client: Client, agent, demo_inbox, path):
    if path == "/console/":
        client.force_login(agent)
    html = client.get(path).content.decode()
    assert not INLINE_SCRIPT.findall(html)
    assert not HANDLER.findall(html)
    assert not STYLE_ATTRIBUTE.findall(html)
    assert "<style" not in html.lower()
