"""The byte checks behind every upload type: a file is what it claims, or it is refused."""

from __future__ import annotations

import pytest

from apps.core.filetypes import content_matches


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n...."),
        ("image/jpeg", b"\xff\xd8\xff\xe0"),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "),
        ("application/pdf", b"%PDF-1.7"),
        ("audio/ogg", b"OggS\x00"),
        ("audio/webm", b"\x1a\x45\xdf\xa3"),
        ("audio/mpeg", b"ID3\x03"),
        ("audio/mpeg", b"\xff\xfb\x90\x00"),
        ("audio/aac", b"\xff\xf1\x50\x80"),
        ("audio/mp4", b"\x00\x00\x00\x20ftypM4A "),
        ("audio/amr", b"#!AMR\n"),
        ("audio/wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42"),
        ("video/quicktime", b"\x00\x00\x00\x08wide"),
        ("text/plain", "héllo".encode()),
        ("Audio/OGG; codecs=opus", b"OggS\x00"),
        ("application/vnd.ms-excel", b"anything"),  # no known signature: the channel's type list decides
    ],
)
def test_files_that_are_what_they_claim(content_type, data):
    assert content_matches(content_type, data)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", b"<svg onload=alert(1)>"),
        ("image/webp", b"RIFF\x10\x00\x00\x00WAVE"),
        ("audio/ogg", b"\x1a\x45\xdf\xa3"),
        ("audio/mpeg", b"<html>"),
        ("audio/mp4", b"\x00\x00\x00\x20moov"),
        ("video/mp4", b"MZ\x90\x00\x00\x00\x00\x00"),
        ("audio/wav", b"RIFF\x24\x00\x00\x00AVI "),
        ("text/plain", b"\x00binary"),
        ("text/plain", b"\xff\xfe bad utf-8"),
    ],
)
def test_files_that_are_not(content_type, data):
    assert not content_matches(content_type, data)
