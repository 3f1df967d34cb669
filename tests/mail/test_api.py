"""The REST additions for email and files: replies with attached files (multipart), a mail's
details and raw original (agents of the inbox only), an email address added to a contact."""

from __future__ import annotations

import re

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.bus.models import Event
from apps.contacts.models import Identity
from apps.conversations.models import Attachment, Message
from apps.mail.models import EmailMessage
from tests.factories import AgentFactory
from tests.mail.support import JANE, compose, dsn
from tests.triage.conftest import NO_RULE_NO_MODEL

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def client_for(agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def api(agent) -> APIClient:
    return client_for(agent)


@pytest.fixture
def janes(email_inbox, receive) -> Message:
    return receive(
        compose(
            subject="Router problem",
            body="My router is down.\n\nOn Monday, Support wrote:\n> old text",
            html="<p>My router is <b>down</b>.</p><script>alert(1)</script><img src='https://tracker.example/p.gif'>",
        )
    )


def post_files(api, conversation_id, files, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"client_id": "f-1", **fields, "files": [SimpleUploadedFile(n, d, content_type=t) for n, d, t in files]}
    return api.post(f"/api/v1/conversations/{conversation_id}/messages", data, format="multipart")


def test_reply_with_files_is_sent_as_mail_attachments(janes, api, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(
            api,
            janes.conversation_id,
            [("photo.png", PNG, "image/png"), ("notes.txt", b"step 1\n", "text/plain")],
            body="See attached.",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert [(a["filename"], a["content_type"], a["size"]) for a in body["attachments"]] == [
        ("photo.png", "image/png", len(PNG)),
        ("notes.txt", "text/plain", 7),
    ]
    mail = smtp.wait_for(1)[0].message
    photo, notes = mail.iter_attachments()
    assert (photo.get_filename(), photo.get_content_type(), photo.get_content()) == ("photo.png", "image/png", PNG)
    # a text part travels with CRLF line ends, as MIME wants
    assert (notes.get_filename(), notes.get_content_type(), notes.get_content()) == (
        "notes.txt",
        "text/plain",
        "step 1\r\n",
    )
    created = Event.objects.get(type="message.created", data__id=body["id"])
    assert [a["filename"] for a in created.data["attachments"]] == ["photo.png", "notes.txt"]


def test_files_without_text_are_a_reply(janes, api, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(api, janes.conversation_id, [("photo.png", PNG, "image/png")])

    assert response.status_code == 201, response.content
    assert response.json()["body"] == ""
    assert len(smtp.wait_for(1)) == 1


def test_repeated_upload_with_the_same_client_id_sends_once(janes, api, smtp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_files(api, janes.conversation_id, [("photo.png", PNG, "image/png")], body="one")
        again = post_files(api, janes.conversation_id, [("photo.png", PNG, "image/png")], body="one")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Attachment.objects.count() == 1
    assert len(smtp.wait_for(1)) == 1


def test_files_an_sms_cannot_carry_are_refused_and_nothing_is_written(api, receive_sms, email_inbox):
    sms = receive_sms()
    before = Message.objects.count()

    response = post_files(api, sms.conversation_id, [("notes.zip", b"PK\x03\x04zip", "application/zip")], body="here")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "attachment_not_allowed",
        "message": "notes.zip: MMS cannot carry files of type application/zip.",
    }
    assert Message.objects.count() == before
    assert Attachment.objects.count() == 0


def test_files_over_the_limit_are_refused(janes, api, settings):
    settings.AGENT_ATTACHMENTS_MAX_BYTES = 100

    response = post_files(
        api,
        janes.conversation_id,
        [("a.bin", b"x" * 60, "application/octet-stream"), ("b.bin", b"y" * 60, "application/octet-stream")],
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "attachments_too_large",
        "message": "the files are 120 bytes together; the limit is 100 bytes",
    }
    assert Message.objects.filter(direction="out").count() == 0


def test_email_details_give_full_text_and_sanitized_html_without_remote_loads(janes, api):
    response = api.get(f"/api/v1/messages/{janes.pk}/email")

    assert response.status_code == 200
    data = response.json()
    assert data["subject"] == "Router problem"
    assert data["from"] == {"address": JANE, "name": "Jane Doe"}
    assert "On Monday, Support wrote:" in data["text"]
    assert janes.body == "My router is down."
    assert "<script" not in data["html"] and "alert(1)" not in data["html"]
    assert not re.search(r"(?<![-\w])src=.https://tracker", data["html"])  # nothing loads by itself
    assert 'data-remote-src="https://tracker.example/p.gif"' in data["html"]  # for "load remote images"
    assert data["original_url"] == f"/api/v1/messages/{janes.pk}/original"


def test_message_events_carry_flags_not_the_mail(janes):
    event = Event.objects.get(type="message.created", data__id=janes.pk)
    assert event.data["meta"] == {
        "email": {"subject": "Router problem", "thread": "new", "html": True},
        "triage": NO_RULE_NO_MODEL,  # the verdict of every inbound message (docs/triage.md)
    }
    assert event.data["body"] == "My router is down."


def test_original_is_the_raw_mail_as_received_for_agents_of_the_inbox_only(janes, api, email_inbox):
    from apps.bus.models import InboundEntry

    raw = bytes(InboundEntry.objects.get(message=janes).raw)

    response = api.get(f"/api/v1/messages/{janes.pk}/original")

    assert response.status_code == 200
    assert response.content == raw
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    download = api.get(f"/api/v1/messages/{janes.pk}/original?download=1")
    assert download["Content-Type"] == "message/rfc822"
    assert download["Content-Disposition"] == f'attachment; filename="message-{janes.pk}.eml"'
    outsider = client_for(AgentFactory(username="zed"))
    assert outsider.get(f"/api/v1/messages/{janes.pk}/original").status_code == 404
    assert outsider.get(f"/api/v1/messages/{janes.pk}/email").status_code == 404


def test_original_of_a_bounced_reply_is_the_bounce(
    janes, agent, api, smtp, deliver, django_capture_on_commit_callbacks
):
    from apps.conversations.services import message_send

    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(conversation_id=janes.conversation_id, agent=agent, body="Hi", client_id="b1")
    report = dsn(original_message_id=EmailMessage.objects.get(message=reply).rfc_id)
    deliver(report, mail_from="")

    response = api.get(f"/api/v1/messages/{reply.pk}/original")

    assert response.status_code == 200
    assert response.content == report
    assert response["X-Original-Kind"] == "bounce"
    details = api.get(f"/api/v1/messages/{reply.pk}/email").json()
    assert details["bounce"]["recipient"]["status"] == "5.1.1"


def test_agent_adds_an_email_address_to_a_contact_unverified(api, receive_sms, email_inbox):
    sms = receive_sms()
    contact_id = sms.conversation.contact_id

    created = api.post(
        f"/api/v1/contacts/{contact_id}/identities",
        {"kind": "email", "address": " Jane@Customer.Example "},
        format="json",
    )
    again = api.post(f"/api/v1/contacts/{contact_id}/identities", {"kind": "email", "address": JANE}, format="json")

    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["address"], created.json()["verified"]) == ("email", JANE, False)
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    event = Event.objects.filter(type="contact.updated").latest("id")
    assert event.data["changes"] == ["identities"]


def test_an_address_of_another_contact_is_refused(api, receive_sms, janes):
    sms = receive_sms()

    response = api.post(
        f"/api/v1/contacts/{sms.conversation.contact_id}/identities", {"kind": "email", "address": JANE}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "identity_taken",
        "message": f"{JANE} belongs to another contact; merge the two contacts instead",
    }
    assert Identity.objects.get(address=JANE).contact_id == janes.conversation.contact_id


def test_a_malformed_address_is_refused(api, receive_sms, email_inbox):
    sms = receive_sms()

    response = api.post(
        f"/api/v1/contacts/{sms.conversation.contact_id}/identities",
        {"kind": "email", "address": "not an address"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_address"
    assert not Identity.objects.filter(kind="email").exists()
