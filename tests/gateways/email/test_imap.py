"""IMAP polling against a real dovecot (docs/EMAIL.md §1)."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from django.utils import timezone

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.email import tasks
from apps.gateways.email.imap import imap_poll_inbox
from apps.gateways.email.intake import email_accept, envelope_of
from apps.gateways.models import ImapCursor
from apps.mail.models import EmailInboxSettings
from tests.conftest import row_counts
from tests.gateways.email.support import INBOX_ADDRESS, make_mail


def bodies(mailbox, folder="INBOX") -> list[bytes]:
    return [bytes(item[b"BODY[]"]) for _, item in sorted(mailbox.messages(folder).items())]


def test_a_poll_journals_each_mail_then_moves_it_unread_to_the_processed_folder(
    imap_inbox, mailbox, django_capture_on_commit_callbacks
):
    mails = [make_mail(body=f"Mail number {n}") for n in range(3)]
    for raw in mails:
        mailbox.append(raw)
    with django_capture_on_commit_callbacks(execute=True):
        result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.stored, result.duplicates, result.error, result.uids) == (3, 0, "", [1, 2, 3])
    entries = list(InboundEntry.objects.order_by("id"))
    assert [bytes(e.raw) for e in entries] == mails
    assert entries[0].payload == {
        "mail_from": None,
        "rcpt_tos": [],
        "transport": "imap",
        "peer": "127.0.0.1",
        "inbox_id": imap_inbox.pk,
        "imap": {"uidvalidity": entries[0].payload["imap"]["uidvalidity"], "uid": 1, "folder": "INBOX"},
    }
    assert [Message.objects.get(pk=e.message_id).body for e in entries] == [f"Mail number {n}" for n in range(3)]
    assert mailbox.messages("INBOX") == {}
    moved = mailbox.messages("Processed")
    assert sorted(bytes(item[b"BODY[]"]) for item in moved.values()) == sorted(mails)
    # BODY.PEEK[]: taking the mail did not mark it read.
    assert all(b"\\Seen" not in item[b"FLAGS"] for item in moved.values())
    cursor = ImapCursor.objects.get(inbox=imap_inbox)
    assert (cursor.folder, cursor.last_uid, cursor.mails_taken, cursor.lease_until, cursor.last_error) == (
        "INBOX",
        3,
        3,
        None,
        "",
    )


def test_without_a_processed_folder_mail_is_flagged_seen_and_left_in_place(imap_inbox, mailbox):
    EmailInboxSettings.objects.filter(inbox=imap_inbox).update(imap_processed_folder="")
    mailbox.append(make_mail())
    mailbox.append(make_mail())
    assert imap_poll_inbox(inbox_id=imap_inbox.pk).stored == 2
    left = mailbox.messages("INBOX")
    assert len(left) == 2 and all(b"\\Seen" in item[b"FLAGS"] for item in left.values())
    again = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (again.fetched, again.stored) == (0, 0)
    assert InboundEntry.objects.count() == 2


def test_a_later_poll_takes_only_the_new_mail(imap_inbox, mailbox):
    mailbox.append(make_mail())
    assert imap_poll_inbox(inbox_id=imap_inbox.pk).stored == 1
    mailbox.append(make_mail(body="later"))
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.fetched, result.stored, result.uids) == (1, 1, [2])
    assert InboundEntry.objects.count() == 2


def test_a_crash_after_journaling_part_of_a_batch_loses_and_doubles_nothing(imap_inbox, mailbox):
    mails = [make_mail(body=f"batch {n}") for n in range(5)]
    for raw in mails:
        mailbox.append(raw)
    # What a poller killed after journaling two mails leaves behind: two journal rows, nothing
    # moved on the server, the cursor where it was.
    served = bodies(mailbox)
    for uid, raw in ((1, served[0]), (2, served[1])):
        email_accept(
            raw=raw,
            envelope=envelope_of(transport="imap", inbox_id=imap_inbox.pk, imap={"uidvalidity": 0, "uid": uid}),
        )
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.fetched, result.stored, result.duplicates) == (5, 3, 2)
    assert sorted(bytes(e.raw) for e in InboundEntry.objects.all()) == sorted(mails)
    assert mailbox.messages("INBOX") == {} and len(mailbox.messages("Processed")) == 5


def test_a_server_error_after_journaling_a_batch_is_retried_without_doubles(imap_inbox, mailbox):
    for n in range(3):
        mailbox.append(make_mail(body=f"retry {n}"))
    # The processed folder cannot be created (dovecot refuses '/' in names): the batch is
    # journaled, then moving it fails.
    EmailInboxSettings.objects.filter(inbox=imap_inbox).update(imap_processed_folder="bad/name")
    failed = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert failed.stored == 3 and "Invalid mailbox name" in failed.error
    cursor = ImapCursor.objects.get(inbox=imap_inbox)
    assert (cursor.last_uid, cursor.lease_until) == (0, None) and "Invalid mailbox name" in cursor.last_error
    assert len(mailbox.messages("INBOX")) == 3  # nothing was acknowledged
    EmailInboxSettings.objects.filter(inbox=imap_inbox).update(imap_processed_folder="Processed")
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.fetched, result.stored, result.duplicates, result.error) == (3, 0, 3, "")
    assert InboundEntry.objects.count() == 3
    assert mailbox.messages("INBOX") == {} and len(mailbox.messages("Processed")) == 3
    assert ImapCursor.objects.get(inbox=imap_inbox).last_error == ""


def test_a_new_uidvalidity_rescans_the_folder_and_dedupes(imap_inbox, mailbox):
    EmailInboxSettings.objects.filter(inbox=imap_inbox).update(imap_folder="Support", imap_processed_folder="")
    first, second, new = make_mail(body="first"), make_mail(body="second"), make_mail(body="new")
    mailbox.append(first, "Support")
    mailbox.append(second, "Support")
    assert imap_poll_inbox(inbox_id=imap_inbox.pk).stored == 2
    old_validity = ImapCursor.objects.get(inbox=imap_inbox).uidvalidity
    # The folder is rebuilt (a restore, a server migration): new UIDVALIDITY, UIDs from 1 again,
    # the new mail first — a cursor that trusted the old UIDs would skip it.
    with mailbox.client() as client:
        client.delete_folder("Support")
    for raw in (new, first, second):
        mailbox.append(raw, "Support")
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.rescanned, result.fetched, result.stored, result.duplicates) == (True, 3, 1, 2)
    cursor = ImapCursor.objects.get(inbox=imap_inbox, folder="Support")
    assert cursor.uidvalidity != old_validity and cursor.last_uid == 3
    assert sorted(bytes(e.raw) for e in InboundEntry.objects.all()) == sorted([first, second, new])


@pytest.mark.django_db(transaction=True)
def test_the_same_mail_via_smtp_and_via_imap_is_stored_once(imap_inbox, mailbox, smtp_listener):
    raw = make_mail(body="Both ways")
    with smtplib.SMTP("127.0.0.1", smtp_listener.port, timeout=30) as client:
        client.sendmail("jane@customer.example", [INBOX_ADDRESS], raw)
    # The mailbox got its own copy, as an MTA delivers it: relay headers on top, LF line ends.
    delivered = (
        b"Return-Path: <jane@customer.example>\r\nDelivered-To: help@support.example\r\n"
        b"Received: from mx.customer.example by mx.support.example; Tue, 4 Mar 2025 10:00:01 +0000\r\n" + raw
    )
    mailbox.append(delivered)
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.fetched, result.stored, result.duplicates) == (1, 0, 1)
    entry = InboundEntry.objects.get()
    assert entry.payload["transport"] == "smtp"
    assert Message.objects.filter(inbox=imap_inbox).count() == 1
    assert len(mailbox.messages("Processed")) == 1


def test_a_wrong_password_is_recorded_and_nothing_is_taken(imap_inbox, mailbox):
    EmailInboxSettings.objects.filter(inbox=imap_inbox).update(imap_password="wrong")
    mailbox.append(make_mail())
    before = row_counts()
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert result.fetched == 0 and "LoginError" in result.error
    assert row_counts() == before
    assert "LoginError" in ImapCursor.objects.get(inbox=imap_inbox).last_error
    assert len(mailbox.messages("INBOX")) == 1


def test_a_folder_another_poller_holds_is_left_alone(imap_inbox, mailbox):
    mailbox.append(make_mail())
    ImapCursor.objects.create(inbox=imap_inbox, folder="INBOX", lease_until=timezone.now() + dt.timedelta(minutes=1))
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.skipped, result.fetched) == ("another poller holds this folder", 0)
    assert InboundEntry.objects.count() == 0 and len(mailbox.messages("INBOX")) == 1


def test_a_mail_over_the_size_limit_is_flagged_and_left_on_the_server(imap_inbox, mailbox, settings):
    settings.EMAIL_MAX_BYTES = 5000
    mailbox.append(make_mail(body="small"))
    mailbox.append(make_mail(body="x" * 6000))
    result = imap_poll_inbox(inbox_id=imap_inbox.pk)
    assert (result.stored, result.too_big) == (1, 1)
    [(uid, left)] = mailbox.messages("INBOX").items()
    assert b"\\Flagged" in left[b"FLAGS"] and len(bytes(left[b"BODY[]"])) > 6000
    assert ImapCursor.objects.get(inbox=imap_inbox).last_uid == 2


def test_beats_task_polls_every_inbox_with_imap_enabled(imap_inbox, mailbox):
    mailbox.append(make_mail())
    assert tasks.imap_poll() == 1  # tasks run in-process in the tests
    assert InboundEntry.objects.get().payload["inbox_id"] == imap_inbox.pk
