"""Automatic mail and bounces (protocols.md §4.3, §4.4)."""

from __future__ import annotations

import pytest

from apps.gateways.email.parser import parse_mail
from tests.gateways.email.support import fixture, make_mail


def test_a_person_s_mail_is_not_automatic():
    parsed = parse_mail(make_mail(), {"mail_from": "jane@customer.example"})
    assert (parsed.auto, parsed.bounce) == ([], None)


@pytest.mark.parametrize(
    ("name", "auto"),
    [
        ("gmail-vacation.eml", ["auto-submitted: auto-replied", "precedence: bulk"]),
        ("exchange-oof.eml", ["x-auto-response-suppress: all"]),
        ("list-mail.eml", ["precedence: list", "list-id", "list-unsubscribe"]),
    ],
)
def test_auto_replies_and_list_mail_are_recognised(name, auto):
    parsed = parse_mail(fixture(name))
    assert (parsed.auto, parsed.bounce) == (auto, None)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-generated"}, "auto-submitted: auto-generated"),
        ({"X-Autoreply": "yes"}, "x-autoreply: yes"),
        ({"X-Autorespond": "Out of office"}, "x-autorespond"),
        ({"Precedence": "junk"}, "precedence: junk"),
        ({"X-Loop": "support@acme.example"}, "x-loop"),
        ({"List-Unsubscribe": "<mailto:u@list.example>"}, "list-unsubscribe"),
    ],
)
def test_each_automatic_header_is_a_reason(headers, reason):
    assert parse_mail(make_mail(headers=headers)).auto == [reason]


def test_auto_submitted_no_is_a_person():
    assert parse_mail(make_mail(headers={"Auto-Submitted": "no"})).auto == []


@pytest.mark.parametrize(
    ("sender", "envelope", "reasons"),
    [
        ("Jane <jane@customer.example>", {"mail_from": ""}, ["null sender"]),
        ("MAILER-DAEMON@mx.example.net", {"mail_from": "x@mx.example.net"}, ["from: mailer-daemon"]),
        ("postmaster@mx.example.net", {}, ["from: postmaster"]),
        ("owner-list@lists.example", {}, ["from: list address"]),
        (
            "Jane <jane@customer.example>",
            {"mail_from": "list-request@lists.example"},
            ["envelope sender: list address"],
        ),
    ],
)
def test_null_and_machine_senders_are_automatic(sender, envelope, reasons):
    assert parse_mail(make_mail(sender=sender), envelope).auto == reasons


def test_the_dsn_fixture_is_a_bounce_with_its_recipient_and_the_original_message_id():
    parsed = parse_mail(fixture("dsn.eml"), {"mail_from": ""})
    assert parsed.bounce == {
        "kind": "dsn",
        "original_message_ids": ["conv42.m7@support.example"],
        "recipients": [
            {
                "address": "jane@customer.example",
                "action": "failed",
                "status": "5.1.1",
                "diagnostic": "550 5.1.1 <jane@customer.example>: Recipient address rejected",
            }
        ],
    }
    assert parsed.auto == ["auto-submitted: auto-replied", "null sender", "from: mailer-daemon", "bounce"]
    assert parsed.attachments == []


def test_a_qmail_bounce_is_read_by_heuristics():
    parsed = parse_mail(fixture("qmail-bounce.eml"))
    assert parsed.bounce["kind"] == "heuristic"
    assert parsed.bounce["original_message_ids"] == ["sd-42-9-fedcba9876543210@support.example"]
    [recipient] = parsed.bounce["recipients"]
    assert (recipient["address"], recipient["action"], recipient["status"]) == (
        "jane@customer.example",
        "failed",
        "5.1.1",
    )
    assert "User unknown" in recipient["diagnostic"]
    assert "bounce" in parsed.auto


def test_an_exim_bounce_names_the_failed_recipients_from_its_header():
    raw = make_mail(
        sender="Mail Delivery System <Mailer-Daemon@mx.example.org>",
        subject="Mail delivery failed: returning message to sender",
        body=(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            "  kim@example.org\n    host mx.example.org [192.0.2.1]\n    SMTP error from remote mail server after RCPT TO:<kim@example.org>:\n"
            "    550 No such user here\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n"
            "Message-ID: <sd-7-1-00000000000000aa@support.example>\nSubject: Re: hi\n"
        ),
        headers={"X-Failed-Recipients": "kim@example.org"},
    )
    bounce = parse_mail(raw, {"mail_from": ""}).bounce
    assert bounce["kind"] == "heuristic"
    assert bounce["original_message_ids"] == ["sd-7-1-00000000000000aa@support.example"]
    [recipient] = bounce["recipients"]
    assert (recipient["address"], recipient["status"], recipient["action"]) == ("kim@example.org", "5.0.0", "failed")
    assert "550 No such user here" in recipient["diagnostic"]


def test_a_person_writing_about_an_undelivered_parcel_is_not_a_bounce():
    parsed = parse_mail(make_mail(subject="Undeliverable parcel", body="My parcel could not be delivered."))
    assert (parsed.bounce, parsed.auto) == (None, [])
