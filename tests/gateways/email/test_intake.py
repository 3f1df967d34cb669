"""email_accept: one journal row per mail, whichever way it came (docs/EMAIL.md §1)."""

from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.email.intake import dedupe_key, email_accept, envelope_of
from tests.conftest import row_counts
from tests.gateways.email.support import INBOX_ADDRESS, REAL_CLIENTS, fixture, make_mail

SMTP = envelope_of(transport="smtp", mail_from="jane@customer.example", rcpt_tos=[INBOX_ADDRESS], peer="127.0.0.1")


def test_a_mail_is_journaled_once_with_its_raw_bytes_and_envelope(db):
    raw = make_mail()
    entry, created = email_accept(raw=raw, envelope=SMTP)
    assert created
    stored = InboundEntry.objects.get()
    assert (stored.pk, stored.source, stored.channel, stored.sender) == (
        entry.pk,
        "email",
        "email",
        "jane@customer.example",
    )
    assert bytes(stored.raw) == raw
    assert stored.provider_message_id == dedupe_key(raw) and len(stored.provider_message_id) == 64
    assert stored.payload == {
        "mail_from": "jane@customer.example",
        "rcpt_tos": [INBOX_ADDRESS],
        "transport": "smtp",
        "peer": "127.0.0.1",
        "inbox_id": None,
    }
    assert email_accept(raw=raw, envelope=SMTP) == (None, False)
    assert InboundEntry.objects.count() == 1


def test_the_copy_a_mailbox_stored_with_relay_headers_and_lf_line_ends_is_the_same_mail(db):
    raw = make_mail()
    relayed = (
        b"Return-Path: <jane@customer.example>\nDelivered-To: help@support.example\n"
        b"Received: from mx.customer.example by mx.support.example; Tue, 4 Mar 2025 10:00:01 +0000\n"
        b"X-Spam-Score: 0.1\n" + raw.replace(b"\r\n", b"\n")
    )
    assert dedupe_key(relayed) == dedupe_key(raw)
    email_accept(raw=raw, envelope=SMTP)
    imap = envelope_of(transport="imap", rcpt_tos=[], inbox_id=1, imap={"uidvalidity": 1, "uid": 1, "folder": "INBOX"})
    assert email_accept(raw=relayed, envelope=imap) == (None, False)
    assert InboundEntry.objects.count() == 1


def test_mails_without_message_id_dedupe_on_their_content(db):
    first = fixture("no-message-id.eml")
    other = first.replace(b"sends no Message-ID", b"still sends no Message-ID")
    assert email_accept(raw=first, envelope=SMTP)[1]
    assert email_accept(raw=first, envelope=SMTP) == (None, False)
    assert email_accept(raw=other, envelope=SMTP)[1]
    assert InboundEntry.objects.count() == 2


def test_a_reused_message_id_with_other_content_is_another_mail(db):
    assert email_accept(raw=make_mail(message_id="<same@x.example>", body="one"), envelope=SMTP)[1]
    assert email_accept(raw=make_mail(message_id="<same@x.example>", body="two"), envelope=SMTP)[1]
    assert InboundEntry.objects.count() == 2


def test_the_intake_is_one_insert(db, django_assert_num_queries):
    raw = make_mail()
    # Inside the test's transaction the intake's atomic block is a savepoint around the INSERT.
    with django_assert_num_queries(3):  # SAVEPOINT, INSERT, RELEASE
        email_accept(raw=raw, envelope=SMTP)
    with django_assert_num_queries(4):  # SAVEPOINT, INSERT (conflict), ROLLBACK TO, RELEASE
        email_accept(raw=raw, envelope=SMTP)


def test_an_accepted_mail_becomes_a_message_with_its_new_text_and_files(
    email_inbox, django_capture_on_commit_callbacks
):
    raw = fixture("attachments.eml").replace(b"To: support@support.example", f"To: {INBOX_ADDRESS}".encode())
    envelope = envelope_of(transport="smtp", mail_from="pat@example.org", rcpt_tos=[INBOX_ADDRESS.upper()])
    with django_capture_on_commit_callbacks(execute=True):
        entry, _ = email_accept(raw=raw, envelope=envelope)
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.DONE, entry.flag_reason or entry.last_error
    message = Message.objects.get(pk=entry.message_id)
    assert (message.inbox_id, message.channel, message.body) == (
        email_inbox.pk,
        "email",
        "See the screenshot below and the invoice attached.",
    )
    assert message.identity.address == "pat@example.org"
    assert sorted(a.filename for a in message.attachments.all()) == ["Rechnung März.pdf", "screenshot.png"]


def test_a_mail_without_any_sender_is_kept_raw_and_flagged(email_inbox, django_capture_on_commit_callbacks):
    raw = b"this is not a mail at all\r\n\r\njust bytes"
    before = row_counts()
    with django_capture_on_commit_callbacks(execute=True):
        entry, created = email_accept(raw=raw, envelope=SMTP | {"mail_from": ""})
    entry.refresh_from_db()
    assert (created, entry.state, bytes(entry.raw)) == (True, InboundEntry.State.FLAGGED, raw)
    assert "no sender" in entry.flag_reason
    after = row_counts()
    assert after == before | {"InboundEntry": before["InboundEntry"] + 1}


@pytest.mark.parametrize("name", sorted(p.name for p in REAL_CLIENTS.glob("*.eml")))
def test_each_real_client_reply_is_stored_as_hello_with_its_original_kept(
    name, email_inbox, django_capture_on_commit_callbacks
):
    raw = (REAL_CLIENTS / name).read_bytes()
    envelope = envelope_of(transport="smtp", mail_from="customer@example.com", rcpt_tos=[INBOX_ADDRESS])
    with django_capture_on_commit_callbacks(execute=True):
        entry, _ = email_accept(raw=raw, envelope=envelope)
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.DONE, entry.flag_reason or entry.last_error
    assert Message.objects.get(pk=entry.message_id).body == "Hello"
    assert bytes(entry.raw) == raw


def test_raw_8bit_headers_and_nul_bytes_are_stored_and_parsed(email_inbox, django_capture_on_commit_callbacks):
    raw = (
        b"From: \xc9lodie <elodie@example.fr>\r\nTo: " + INBOX_ADDRESS.encode() + b"\r\n"
        b"Subject: R\xe9clamation \xe0 propos\r\nMessage-ID: <nul-1@example.fr>\r\n"
        b"Content-Type: text/plain\r\n\r\nLigne avec un \x00 nul et un caf\xe9.\r\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        entry, _ = email_accept(raw=raw, envelope=SMTP)
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.DONE, entry.flag_reason or entry.last_error
    message = Message.objects.get(pk=entry.message_id)
    assert message.body == "Ligne avec un \ufffd nul et un café."
    assert bytes(entry.raw) == raw
