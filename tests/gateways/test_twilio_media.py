"""MMS media: copied from Twilio (Basic auth, allowed hosts only) into our storage, or refused."""

from __future__ import annotations

import pytest

from apps.bus.events import EventType
from apps.bus.models import Event
from apps.conversations.models import Attachment

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


def _mms(receive_sms, url: str, content_type: str = "image/jpeg"):
    return receive_sms(Body="see picture", NumMedia="1", MediaUrl0=url, MediaContentType0=content_type)


@pytest.mark.django_db(transaction=True)
def test_media_is_fetched_with_basic_auth_into_storage(receive_sms, twilio_server):
    url = twilio_server.add_media(JPEG, "image/jpeg")
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == ""
    assert attachment.source_url == url
    assert attachment.content_type == "image/jpeg"
    assert attachment.size == len(JPEG)
    assert attachment.filename == url.rsplit("/", 1)[1] + ".jpg"
    with attachment.file.open("rb") as stored:
        assert stored.read() == JPEG
    [get] = twilio_server.gets()
    assert get.auth == (twilio_server.account_sid, "test-auth-token")
    assert message.meta["attachments"] == 1
    event = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=message.pk).latest("id")
    [data] = event.data["attachments"]
    assert data["url"] == f"/api/v1/attachments/{attachment.pk}"  # never a public media path
    assert (data["size"], data["error"]) == (len(JPEG), "")


@pytest.mark.django_db(transaction=True)
def test_redirect_to_the_media_cdn_is_followed_without_credentials(receive_sms, twilio_server, settings):
    settings.TWILIO_MEDIA_HOSTS = [*settings.TWILIO_MEDIA_HOSTS, "localhost"]  # stands in for mms.twiliocdn.com
    url = twilio_server.add_media(JPEG, "image/jpeg", redirect=True)
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == ""
    assert attachment.size == len(JPEG)
    api_get, cdn_get = twilio_server.gets()
    assert api_get.auth == (twilio_server.account_sid, "test-auth-token")
    assert cdn_get.host.startswith("localhost:")
    assert cdn_get.path.startswith("/cdn/")
    assert cdn_get.auth is None
    assert "Authorization" not in cdn_get.headers


@pytest.mark.django_db(transaction=True)
def test_credentials_go_to_the_api_host_only(receive_sms, twilio_server, settings):
    """A media URL on another allowed host (the legacy S3 host, a CDN) is fetched without credentials."""
    settings.TWILIO_MEDIA_HOSTS = [*settings.TWILIO_MEDIA_HOSTS, "localhost"]
    url = twilio_server.add_cdn_media(JPEG, "image/jpeg")
    message = _mms(receive_sms, url)
    assert Attachment.objects.get(message=message).size == len(JPEG)
    [get] = twilio_server.gets()
    assert get.host.startswith("localhost:")
    assert "Authorization" not in get.headers


@pytest.mark.django_db(transaction=True)
def test_media_on_a_host_that_is_not_twilio_is_refused_and_not_fetched(receive_sms, twilio_server):
    # The same server under another name: it would serve the file, but the host is not allowed.
    url = twilio_server.add_media(JPEG, "image/jpeg").replace("127.0.0.1", "localhost")
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media URL host 'localhost' is not a Twilio host"
    assert not attachment.file
    assert attachment.size == 0
    assert twilio_server.requests == []
    event = Event.objects.filter(type=EventType.MESSAGE_UPDATED, data__id=message.pk).latest("id")
    assert event.data["attachments"][0]["error"] == attachment.error


@pytest.mark.django_db(transaction=True)
def test_redirect_off_the_allowed_hosts_is_refused(receive_sms, twilio_server):
    url = twilio_server.add_media(JPEG, "image/jpeg", redirect=True)  # to "localhost", not allowed here
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media URL host 'localhost' is not a Twilio host"
    assert not attachment.file
    assert [g.path.startswith("/cdn/") for g in twilio_server.gets()] == [False]


@pytest.mark.django_db(transaction=True)
def test_non_http_media_url_is_refused(receive_sms, twilio_server):
    message = _mms(receive_sms, "file:///etc/passwd")
    attachment = Attachment.objects.get(message=message)
    assert "is not a Twilio host" in attachment.error
    assert not attachment.file


@pytest.mark.django_db(transaction=True)
def test_oversized_media_is_refused(receive_sms, twilio_server, settings):
    settings.TWILIO_MEDIA_MAX_BYTES = 1000
    url = twilio_server.add_media(JPEG, "image/jpeg")
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == f"media is {len(JPEG)} bytes, over the 1000 limit"
    assert not attachment.file
    assert attachment.size == 0


@pytest.mark.django_db(transaction=True)
def test_oversized_media_without_a_declared_length_is_refused_while_streaming(receive_sms, twilio_server, settings):
    settings.TWILIO_MEDIA_MAX_BYTES = 1000
    url = twilio_server.add_media(JPEG, "image/jpeg", send_length=False)
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media is over the 1000 byte limit"
    assert not attachment.file


@pytest.mark.django_db(transaction=True)
def test_media_of_a_type_not_accepted_is_refused(receive_sms, twilio_server):
    url = twilio_server.add_media(b"<html><script>alert(1)</script></html>", "text/html; charset=utf-8")
    message = _mms(receive_sms, url, content_type="image/jpeg")  # what the webhook claimed does not matter
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media type 'text/html' is not accepted"
    assert not attachment.file


@pytest.mark.django_db(transaction=True)
def test_missing_media_is_refused(receive_sms, twilio_server):
    url = twilio_server.add_media(JPEG, "image/jpeg")
    missing = url[: -len("ME") - 32] + "ME" + "0" * 32
    message = _mms(receive_sms, missing)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media fetch answered 404"
    assert not attachment.file


@pytest.mark.django_db(transaction=True)
def test_media_of_another_account_is_refused_by_twilio(receive_sms, twilio_server):
    url = twilio_server.add_media(JPEG, "image/jpeg", account_sid="AC" + "8" * 32)
    message = _mms(receive_sms, url)
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == "media fetch answered 401"
    assert not attachment.file


@pytest.mark.django_db(transaction=True)
def test_several_media_are_each_stored(receive_sms, twilio_server):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    first = twilio_server.add_media(JPEG, "image/jpeg")
    second = twilio_server.add_media(png, "image/png")
    message = receive_sms(
        Body="",
        NumMedia="2",
        MediaUrl0=first,
        MediaContentType0="image/jpeg",
        MediaUrl1=second,
        MediaContentType1="image/png",
    )
    stored = {a.source_url: (a.content_type, a.size, a.error) for a in message.attachments.all()}
    assert stored == {first: ("image/jpeg", len(JPEG), ""), second: ("image/png", len(png), "")}
    assert len(twilio_server.gets()) == 2
