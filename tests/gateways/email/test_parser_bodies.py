"""The parser: new text, charsets, HTML, attachments (docs/EMAIL.md §2)."""

from __future__ import annotations

import re

import pytest

from apps.gateways.email.parser import parse_mail
from tests.gateways.email.support import FIXTURES, REAL_CLIENTS, fixture, make_mail

REAL = sorted(p.name for p in REAL_CLIENTS.glob("*.eml"))


def test_the_corpus_holds_the_seven_real_clients_with_their_licence():
    assert REAL == [f"{n}.eml" for n in ("android", "aol", "apple_mail", "gmail", "outlook", "thunderbird", "yahoo")]
    assert (REAL_CLIENTS / "LICENSE-talon-Apache-2.0.txt").exists() and (REAL_CLIENTS / "README.md").exists()


@pytest.mark.parametrize("name", REAL)
def test_a_real_client_reply_comes_out_as_exactly_its_new_text(name):
    parsed = parse_mail((REAL_CLIENTS / name).read_bytes())
    assert parsed.new_text == "Hello"
    # The full text stays, quoted history and all.
    assert parsed.text.startswith("Hello") or parsed.text.endswith("Hello")
    assert len(parsed.text) > len("Hello") + 10


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Works now, thanks.\n\nSent from my iPhone", "Works now, thanks."),
        ("Works now.\n\n-- \nJane Doe\nACME Corp, 555-0100", "Works now."),
        (
            "Danke!\n\nAm 04.03.2025 um 10:02 schrieb Acme Support <support@acme.example>:\n> Hallo Jane",
            "Danke!",
        ),
        (
            "Fixed.\n\n-----Original Message-----\nFrom: Support <support@acme.example>\nSent: Monday\n\nHi",
            "Fixed.",
        ),
        ("> What is your order number?\n\nIt is 12345.", "It is 12345."),
    ],
)
def test_quotes_signatures_and_mobile_footers_are_stripped(body, expected):
    assert parse_mail(make_mail(body=body)).new_text == expected


def test_a_mail_that_is_only_a_quote_keeps_its_full_text():
    parsed = parse_mail(make_mail(body="> only what you wrote\n> before"))
    assert parsed.new_text == "> only what you wrote\n> before"


@pytest.mark.parametrize(
    ("name", "sender_name", "subject", "text"),
    [
        ("latin1-qp.eml", "Jürgen Müller", "Grüße aus Köln", "Grüße aus Köln, ça va? Der Drucker druckt nicht mehr."),
        ("cp1252-8bit.eml", "Zoe", "Invoice", "The invoice says €100 – it should be “€50”."),
        ("shift-jis.eml", "田中", "故障", "プリンターが壊れました。"),
        ("wrong-charset.eml", "Ana", "Problema", "La conexión no funciona desde el miércoles."),
        ("unknown-charset.eml", "Ola", "Hei på deg", "Blåbærsyltetøy er tomt."),
    ],
)
def test_charsets_declared_wrong_or_unknown_decode_to_the_right_text(name, sender_name, subject, text):
    parsed = parse_mail(fixture(name))
    assert (parsed.from_["name"], parsed.subject, parsed.new_text) == (sender_name, subject, text)


def test_from_is_lower_cased_and_headers_are_read_without_angle_brackets():
    parsed = parse_mail(fixture("gmail-vacation.eml"))
    assert parsed.from_ == {"address": "jane@customer.example", "name": "Jane Doe"}
    assert parsed.message_id == "vacation-1@mail.gmail.com"
    assert parsed.in_reply_to == ["sd-42-7-0123456789abcdef@support.example"]
    assert parsed.references == ["sd-42-0123456789abcdef@support.example", "sd-42-7-0123456789abcdef@support.example"]
    assert parsed.to == [{"address": "support@support.example", "name": ""}]
    assert parsed.date is not None and parsed.date.isoformat() == "2025-03-04T10:05:00+00:00"
    assert parse_mail(fixture("latin1-qp.eml")).from_["address"] == "juergen@example.de"


def test_an_html_only_mail_gets_its_text_from_the_html_without_the_quote():
    parsed = parse_mail(fixture("html-only.eml"))
    assert parsed.new_text == "Please help me.\nclick"
    assert "> Hi, how can we help?" in parsed.text


def test_html_is_sanitized_scripts_handlers_and_javascript_links_gone_remote_images_not_loaded():
    html = parse_mail(fixture("html-only.eml")).html
    lowered = html.lower()
    for dangerous in ("<script", "alert(", "onerror", "javascript:", "<style", "evil.example"):
        assert dangerous not in lowered, dangerous
    assert '<img data-remote-src="https://tracker.example/pixel.gif?u=42"' in html
    assert not re.search(r'\ssrc="(https?:)?//', html), "no image loads from the network"
    assert "<p>Please <b>help</b> me.</p>" in html
    assert '<a rel="noopener noreferrer nofollow">click</a>' in html


def test_inline_images_keep_their_cid_and_attachments_their_bytes_and_names():
    parsed = parse_mail(fixture("attachments.eml"))
    assert parsed.new_text == "See the screenshot below and the invoice attached."
    assert '<img src="cid:shot1@example.org" alt="screenshot">' in parsed.html
    assert [(a.filename, a.content_type, a.content_id, a.error) for a in parsed.attachments] == [
        ("screenshot.png", "image/png", "shot1@example.org", ""),
        ("Rechnung März.pdf", "application/pdf", "", ""),
    ]
    assert parsed.attachments[0].data.startswith(b"\x89PNG")
    assert parsed.attachments[1].data.startswith(b"%PDF-1.4")


def test_an_attachment_over_the_limit_is_recorded_with_an_error_and_no_bytes(settings):
    settings.EMAIL_ATTACHMENT_MAX_BYTES = 1000
    raw = make_mail(
        attachments=[("big.bin", b"x" * 1001, "application/octet-stream"), ("ok.txt", b"y" * 10, "text/plain")]
    )
    parsed = parse_mail(raw)
    big, ok = parsed.attachments
    assert (big.filename, big.data, "1001 bytes" in big.error) == ("big.bin", None, True)
    assert (ok.filename, ok.data, ok.error) == ("ok.txt", b"y" * 10, "")


def test_a_forwarded_mail_is_one_eml_attachment():
    inner = make_mail(subject="Original problem", body="Inner text")
    outer = make_mail(body="See below", attachments=[])
    from email import message_from_bytes, policy

    mail = message_from_bytes(outer, policy=policy.default)
    mail.add_attachment(message_from_bytes(inner, policy=policy.default))
    parsed = parse_mail(mail.as_bytes())
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("Original problem.eml", "message/rfc822")]
    assert b"Inner text" in parsed.attachments[0].data
    assert parsed.new_text == "See below"


def test_format_flowed_lines_are_joined():
    raw = (
        b"From: a@example.com\r\nTo: help@support.example\r\nSubject: f\r\nMessage-ID: <f@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
        b"This line was wrapped by the \r\nclient at seventy columns.\r\n"
    )
    assert parse_mail(raw).new_text == "This line was wrapped by the client at seventy columns."


@pytest.mark.parametrize(
    ("subject", "expected"),
    [(b"R\xe9clamation \xe0 propos", "Réclamation à propos"), ("Привет мир".encode(), "Привет мир")],
)
def test_unencoded_8bit_headers_are_read_as_utf8_else_windows_1252(subject, expected):
    raw = b"From: a@example.com\r\nTo: help@support.example\r\nSubject: " + subject + b"\r\n\r\nx\r\n"
    assert parse_mail(raw).subject == expected


# --- text after a sign-off line is the customer's (issue 10) ----------------------------------

SIGN_OFF = FIXTURES / "sign-off"


@pytest.mark.parametrize("name", sorted(p.stem for p in SIGN_OFF.glob("*.eml")))
def test_text_after_a_sign_off_is_kept_and_only_quotes_and_signature_blocks_go(name):
    expected = (SIGN_OFF / f"{name}.txt").read_text().rstrip("\n")
    assert parse_mail((SIGN_OFF / f"{name}.eml").read_bytes()).new_text == expected


def test_the_sign_off_corpus_is_there():
    assert len(list(SIGN_OFF.glob("*.eml"))) == 8
    assert {p.stem for p in SIGN_OFF.glob("*.eml")} == {p.stem for p in SIGN_OFF.glob("*.txt")}


def test_a_header_parsed_once_answers_every_read_alike():
    """The parser's header registry remembers what it parsed (a parsed header is immutable): two
    mails with the same Content-Type read the same; a value longer than the cache takes is parsed
    each time, and still right."""
    from email.message import EmailMessage

    from apps.gateways.email.parser import POLICY, message_from_bytes

    def mail(name: str) -> bytes:
        message = EmailMessage()
        message["From"] = "Jane <jane@customer.example>"
        message["Subject"] = "Files"
        message.set_content("See the file.")
        message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename=name)
        return message.as_bytes()

    long_name = "report-" + "x" * 2100 + ".csv"
    for _ in range(2):
        for name in ("data.csv", "data.csv", long_name):
            parsed = parse_mail(mail(name))
            assert parsed.new_text == "See the file."
            assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
                (name, "text/csv", b"a,b\n1,2\n")
            ]
    first, second = (message_from_bytes(mail("data.csv")) for _ in range(2))
    assert (
        first.get_body(preferencelist=("plain",))["Content-Type"]
        is (second.get_body(preferencelist=("plain",))["Content-Type"])
    )  # one parse for both
    assert POLICY.header_factory("Subject", "Hi") == "Hi"
