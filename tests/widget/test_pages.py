"""The widget's public pages: the loader script and the demo page (apps/widget/pages.py)."""

from __future__ import annotations

import pytest
from django.templatetags.static import static

from apps.accounts.models import Inbox
from apps.widget.pages import LOADER_PATH, PANEL_PLACEHOLDER
from tests.factories import InboxFactory


def widget_inbox(name: str) -> Inbox:
    return InboxFactory(name=name, channel=Inbox.Channel.WIDGET, address="")


def test_loader_is_javascript_with_a_short_cache_and_an_etag(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response.content) < 30_000
    again = client.get("/widget.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert again.content == b""


def test_loader_names_the_collected_panel(client):
    body = client.get("/widget.js").content.decode()
    assert PANEL_PLACEHOLDER in LOADER_PATH.read_text()
    assert f'const PANEL = "{static("widget/panel.js")}"' in body


def test_loader_answers_only_get(client):
    assert client.post("/widget.js").status_code == 405


@pytest.mark.django_db
def test_demo_page_embeds_the_demo_inbox(client):
    widget_inbox("Another widget")
    demo = widget_inbox("Demo widget")
    response = client.get("/widget/demo/")
    assert response.status_code == 200
    assert f'<script src="/widget.js" data-inbox="{demo.key}" async></script>' in response.content.decode()


@pytest.mark.django_db
def test_demo_page_takes_an_inbox_key_and_identity_escaped(client):
    other = widget_inbox("Shop")
    response = client.get(
        "/widget/demo/", {"inbox": other.key, "user_id": 'u"><script>alert(1)</script>', "user_hash": "ab12"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-inbox="{other.key}"' in html
    assert 'data-user-id="u&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert 'data-user-hash="ab12"' in html
    assert "<script>alert(1)" not in html


@pytest.mark.django_db
def test_demo_page_without_a_widget_inbox_says_so(client):
    InboxFactory(name="SMS")  # not a widget
    response = client.get("/widget/demo/")
    assert response.status_code == 404
    assert "seed_demo" in response.content.decode()
    assert client.get("/widget/demo/", {"inbox": "nope"}).status_code == 404
