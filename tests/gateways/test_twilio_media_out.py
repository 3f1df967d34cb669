"""Agent files out through Twilio: MMS and WhatsApp media as signed, expiring links under
PUBLIC_BASE_URL, within each channel's limits (refused before anything is queued)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from apps.bus.models import OutboxEntry
from apps.conversations.models import Attachment, Message
from apps.conversations.services import FileUpload, message_send
from apps.core.errors import InvalidInput
from tests.conftest import row_counts

pytestmark = pytest.mark.django_db(transaction=True)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 300
PDF = b"%PDF-1.4\n" + b"0" * 300 + b"\n%%EOF"
OGG = b"OggS\x00\x02" + b"\x00" * 300
WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 300
MB = 1024 * 1024


def _reply(message: Message, agent, files, body: str = "Here you go") -> Message:
    reply, created = message_send(conversation_id=message.conversation_id, agent=agent, body=body, attachments=files)
    assert created
    reply.refresh_from_db()
    return reply


def _path(url: str) -> str:
    assert url.startswith("http://testserver/files/")  # under PUBLIC_BASE_URL
    return urlsplit(url).path


def test_mms_reply_sends_media_urls_the_desk_serves(client, agent, receive_sms, twilio_server):
    inbound = receive_sms()
    reply = _reply(
        inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG), FileUpload("r.png", "image/png", PNG)]
    )
    [post] = twilio_server.message_posts()
    assert post.field("Body") == "Here you go"
    urls = post.form["MediaUrl"]
    assert len(urls) == 2
    assert urls[0].endswith("/router.jpg") and urls[1].endswith("/r.png")
    assert reply.status == Message.Status.QUEUED and reply.provider_id in twilio_server.messages
    assert twilio_server.messages[reply.provider_id]["num_media"] == "2"
    response = client.get(_path(urls[0]))  # what Twilio fetches, without any credentials
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == JPEG
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(JPEG))


def test_whatsapp_reply_carries_one_document(client, agent, receive_sms, twilio_server):
    inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006")
    _reply(inbound, agent, [FileUpload("invoice.pdf", "application/pdf", PDF)], body="Your invoice")
    [post] = twilio_server.message_posts()
    assert post.field("To") == "whatsapp:+14155552671"
    assert post.field("Body") == "Your invoice"
    [url] = post.form["MediaUrl"]
    response = client.get(_path(url))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_a_files_only_reply_has_no_body(agent, receive_sms, twilio_server):
    inbound = receive_sms()
    _reply(inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG)], body="")
    [post] = twilio_server.message_posts()
    assert "Body" not in post.form
    assert len(post.form["MediaUrl"]) == 1


def test_an_expired_link_is_refused_with_403(client, agent, receive_sms, twilio_server, settings):
    inbound = receive_sms()
    _reply(inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG)])
    [url] = twilio_server.message_posts()[0].form["MediaUrl"]
    # Fresh: well inside a minute, however slow the machine was to send the reply.
    settings.MEDIA_LINK_SECONDS = 60
    assert client.get(_path(url)).status_code == 200
    # The same link once older than the window: at least 2.1 s against 1.
    settings.MEDIA_LINK_SECONDS = 1
    time.sleep(2.1)
    response = client.get(_path(url))
    assert response.status_code == 403
    assert response.content == b"this file link has expired"


def test_forged_or_bent_links_are_refused_with_403(client, agent, receive_sms, twilio_server):
    inbound = receive_sms()
    _reply(inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG), FileUpload("r.png", "image/png", PNG)])
    first, second = (_path(u) for u in twilio_server.message_posts()[0].form["MediaUrl"])
    token = first.split("/")[2]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get(f"/files/{forged}/router.jpg").status_code == 403
    assert client.get(f"/files/{token}/r.png").status_code == 403  # another file's name
    assert client.get("/files/1/router.jpg").status_code == 403
    assert client.post(first).status_code == 405


def test_a_deleted_file_is_404(client, agent, receive_sms, twilio_server):
    inbound = receive_sms()
    _reply(inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG)])
    [url] = twilio_server.message_posts()[0].form["MediaUrl"]
    Attachment.objects.all().delete()
    assert client.get(_path(url)).status_code == 404


@pytest.mark.parametrize(
    ("channel", "files", "words"),
    [
        (
            "whatsapp",
            [FileUpload("a.jpg", "image/jpeg", JPEG), FileUpload("b.png", "image/png", PNG)],
            "WhatsApp takes at most 1 file(s) per reply; 2 were attached.",
        ),
        (
            "whatsapp",
            [FileUpload("big.jpg", "image/jpeg", JPEG + b"\x00" * (6 * MB))],
            "big.jpg is 6.0 MB; WhatsApp takes image/jpeg files up to 5.0 MB.",
        ),
        (
            "whatsapp",
            [FileUpload("voice.webm", "audio/webm", WEBM)],
            "voice.webm: WhatsApp cannot carry files of type audio/webm.",
        ),
        ("whatsapp", [FileUpload("fake.pdf", "application/pdf", JPEG)], "fake.pdf is not really application/pdf"),
        (
            "phone",
            [
                FileUpload("a.jpg", "image/jpeg", JPEG + b"\x00" * (3 * MB)),
                FileUpload("b.jpg", "image/jpeg", JPEG + b"\x00" * (3 * MB)),
            ],
            "The files are 6.0 MB together; MMS takes up to 5.0 MB per reply.",
        ),
        (
            "phone",
            [FileUpload("page.html", "text/html", b"<html>")],
            "page.html: MMS cannot carry files of type text/html.",
        ),
    ],
)
def test_files_that_do_not_fit_the_channel_are_refused_before_queueing(
    agent, receive_sms, twilio_server, channel, files, words
):
    if channel == "whatsapp":
        inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006")
    else:
        inbound = receive_sms()
    before = row_counts()
    with pytest.raises(InvalidInput) as refused:
        message_send(conversation_id=inbound.conversation_id, agent=agent, body="see", attachments=files)
    assert refused.value.code == "attachment_not_allowed"
    assert refused.value.message == words
    assert row_counts() == before
    assert OutboxEntry.objects.count() == 0
    assert twilio_server.message_posts() == []


def test_api_refusal_is_400_with_the_words(agent, receive_sms, twilio_server):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(
        f"/api/v1/conversations/{inbound.conversation_id}/messages",
        {"body": "x", "client_id": "f-1", "files": [SimpleUploadedFile("voice.webm", WEBM, "audio/webm")]},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "attachment_not_allowed",
        "message": "voice.webm: WhatsApp cannot carry files of type audio/webm.",
    }
    assert Message.objects.filter(direction="out").count() == 0


def test_whatsapp_voice_note_in_ogg_goes_out(agent, receive_sms, twilio_server):
    inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006")
    _reply(inbound, agent, [FileUpload("voice.ogg", "audio/ogg", OGG)], body="")
    [post] = twilio_server.message_posts()
    assert post.form["MediaUrl"][0].endswith("/voice.ogg")


def test_without_a_twilio_account_the_local_outbox_keeps_the_links(agent, receive_sms):
    from apps.gateways.models import LocalOutboxSend

    inbound = receive_sms()
    _reply(inbound, agent, [FileUpload("router.jpg", "image/jpeg", JPEG)])
    [row] = LocalOutboxSend.objects.all()
    [url] = row.media
    assert url.startswith("http://testserver/files/") and url.endswith("/router.jpg")
