"""Visitors send voice notes and short videos as well as images and documents; the bytes must
be what the type claims (sniffed), as for every upload."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.bus.events import EventType
from apps.bus.models import Event
from apps.conversations.models import Message

WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 200  # what MediaRecorder makes in Chrome
OGG = b"OggS\x00\x02\x00\x00" + b"\x00" * 200  # Firefox's recordings, WhatsApp voice notes
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 50
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 200  # iPhone voice memos
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 200


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("voice.webm", WEBM, "audio/webm"),
        ("voice.ogg", OGG, "audio/ogg"),
        ("voice.mp3", MP3, "audio/mpeg"),
        ("memo.m4a", M4A, "audio/mp4"),
        ("clip.mp4", MP4, "video/mp4"),
        ("clip.webm", WEBM, "video/webm"),
        ("clip.mov", MOV, "video/quicktime"),
    ],
)
def test_voice_notes_and_short_videos_are_accepted(widget, name, data, content_type):
    widget.session()
    response = widget.upload("u-1", SimpleUploadedFile(name, data, content_type=content_type))
    assert response.status_code == 201, response.content
    [attachment] = response.json()["message"]["attachments"]
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == (name, content_type, len(data))
    stored = Message.objects.get().attachments.get()
    assert stored.content_type == content_type
    with stored.file.open("rb") as f:
        assert f.read() == data
    # The console gets it with its type, to play it inline.
    event = Event.objects.filter(type=EventType.MESSAGE_CREATED).latest("id")
    assert event.data["attachments"][0]["content_type"] == content_type


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("voice.ogg", b"<html><script>alert(1)</script></html>", "audio/ogg"),
        ("voice.webm", OGG, "audio/webm"),
        ("voice.mp3", b"MZ\x90\x00 not audio", "audio/mpeg"),
        ("clip.mp4", b"MZ\x90\x00" + b"\x00" * 100, "video/mp4"),
        ("clip.mov", b"#!/bin/sh\nrm -rf /\n", "video/quicktime"),
        ("clip.avi", b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo"),  # a type not accepted
    ],
)
def test_media_that_is_not_what_it_claims_is_refused(widget, name, data, content_type):
    widget.session()
    response = widget.upload("u-1", SimpleUploadedFile(name, data, content_type=content_type))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "type_not_allowed"
    assert Message.objects.count() == 0


def test_the_widget_is_told_the_media_types(widget):
    response = widget.session()
    types = response.json()["limits"]["upload_types"]
    for content_type in ("audio/webm", "audio/ogg", "audio/mpeg", "audio/mp4", "video/mp4", "video/webm"):
        assert content_type in types


def test_oversized_video_is_refused(widget, settings):
    settings.WIDGET_MAX_UPLOAD_BYTES = 100
    widget.session()
    response = widget.upload("u-1", SimpleUploadedFile("clip.mp4", MP4, content_type="video/mp4"))
    assert response.status_code == 413
    assert Message.objects.count() == 0
