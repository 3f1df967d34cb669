"""POST /webhooks/email/inbound: raw MIME with a shared secret (docs/EMAIL.md §1)."""

from __future__ import annotations

import base64

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from tests.conftest import row_counts
from tests.gateways.email.support import INBOX_ADDRESS, make_mail

URL = "/webhooks/email/inbound"
SECRET = "s3cret-webhook-value"


@pytest.fixture
def secret(settings):
    settings.EMAIL_WEBHOOK_SECRET = SECRET
    return SECRET


def post(client, raw: bytes, *, auth: str | None = f"Bearer {SECRET}", content_type="message/rfc822", **headers):
    extra = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    return client.post(URL, data=raw, content_type=content_type, **extra, **headers)


def test_a_mail_with_the_right_secret_is_stored_then_answered_200(
    client, secret, email_inbox, django_capture_on_commit_callbacks
):
    raw = make_mail(body="Hello from the webhook")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, raw, HTTP_X_ENVELOPE_FROM="jane@customer.example", HTTP_X_ENVELOPE_TO=INBOX_ADDRESS)
    assert response.status_code == 200
    entry = InboundEntry.objects.get()
    assert response.json() == {"status": "accepted", "id": entry.pk}
    assert bytes(entry.raw) == raw
    assert entry.payload["transport"] == "webhook" and entry.payload["rcpt_tos"] == [INBOX_ADDRESS]
    assert Message.objects.get(pk=entry.message_id).body == "Hello from the webhook"


def test_basic_auth_carries_the_secret_as_password(client, secret, db):
    auth = "Basic " + base64.b64encode(f"mta:{SECRET}".encode()).decode()
    assert post(client, make_mail(), auth=auth).status_code == 200
    assert InboundEntry.objects.count() == 1


def test_a_repeated_post_is_answered_200_and_stored_once(client, secret, db):
    raw = make_mail()
    assert post(client, raw).json()["status"] == "accepted"
    assert post(client, raw).json() == {"status": "duplicate", "id": None}
    assert InboundEntry.objects.count() == 1


@pytest.mark.parametrize("auth", [None, "Bearer wrong-secret", f"Bearer {SECRET}x", "Basic !!!", f"Token {SECRET}"])
def test_a_missing_or_wrong_secret_is_refused_with_403_and_nothing_stored(client, secret, db, auth):
    before = row_counts()
    response = post(client, make_mail(), auth=auth)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert row_counts() == before


def test_without_a_configured_secret_the_webhook_always_answers_403(client, settings, db):
    settings.EMAIL_WEBHOOK_SECRET = ""
    before = row_counts()
    assert post(client, make_mail(), auth="Bearer ").status_code == 403
    assert post(client, make_mail(), auth=None).status_code == 403
    assert row_counts() == before


def test_a_mail_over_the_size_limit_is_refused_with_413(client, secret, settings, db):
    settings.EMAIL_MAX_BYTES = 2000
    before = row_counts()
    response = post(client, make_mail(body="x" * 3000))
    assert response.status_code == 413
    assert row_counts() == before


def test_a_provider_form_post_is_refused_with_415(client, secret, db):
    response = client.post(URL, {"from": "a@b.example"}, HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    assert response.status_code == 415
    assert InboundEntry.objects.count() == 0


def test_only_post_is_allowed(client, secret, db):
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {SECRET}").status_code == 405
