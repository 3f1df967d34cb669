"""The SMTP listener, spoken to with smtplib (docs/EMAIL.md §1)."""

from __future__ import annotations

import smtplib

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.email.smtp import ListenerThread
from tests.conftest import row_counts
from tests.gateways.email.support import DOMAIN, INBOX_ADDRESS, make_mail

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(settings):
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    settings.EMAIL_MAX_BYTES = 64 * 1024
    thread = ListenerThread(host="127.0.0.1", port=0, domain=DOMAIN).start()
    yield thread
    thread.stop()


def smtp(listener) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", listener.port, timeout=30)


def test_a_mail_sent_with_smtplib_ends_as_a_stored_message(listener, email_inbox):
    raw = make_mail(body="Sent over real SMTP")
    with smtp(listener) as client:
        assert client.sendmail("jane@customer.example", [INBOX_ADDRESS], raw) == {}
    # 250 came after the journal commit (and, tasks running in-process here, after processing).
    entry = InboundEntry.objects.get()
    assert (entry.source, bytes(entry.raw), entry.payload["transport"], entry.payload["mail_from"]) == (
        "email",
        raw,
        "smtp",
        "jane@customer.example",
    )
    assert entry.payload["peer"] == "127.0.0.1"
    message = Message.objects.get(pk=entry.message_id)
    assert (message.inbox_id, message.body, message.identity.address) == (
        email_inbox.pk,
        "Sent over real SMTP",
        "jane@customer.example",
    )


def test_the_same_mail_sent_twice_is_stored_once(listener, email_inbox):
    raw = make_mail()
    with smtp(listener) as client:
        client.sendmail("jane@customer.example", [INBOX_ADDRESS], raw)
        client.sendmail("jane@customer.example", [INBOX_ADDRESS], raw)
    assert InboundEntry.objects.count() == 1
    assert Message.objects.filter(inbox=email_inbox).count() == 1


def test_a_recipient_outside_the_domain_is_refused_with_550(listener, email_inbox):
    before = row_counts()
    with smtp(listener) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("jane@customer.example", ["someone@elsewhere.example"], make_mail())
    code, text = refused.value.recipients["someone@elsewhere.example"]
    assert code == 550 and f"@{DOMAIN}".encode() in text
    assert row_counts() == before


def test_only_the_recipients_at_the_domain_are_kept(listener, email_inbox):
    with smtp(listener) as client:
        refused = client.sendmail("jane@customer.example", ["x@elsewhere.example", INBOX_ADDRESS.upper()], make_mail())
    assert list(refused) == ["x@elsewhere.example"]
    assert InboundEntry.objects.get().payload["rcpt_tos"] == [INBOX_ADDRESS]


def test_the_size_limit_is_advertised_and_a_declared_big_mail_refused_with_552(listener, email_inbox):
    before = row_counts()
    with smtp(listener) as client:
        client.ehlo()
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == 64 * 1024
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("jane@customer.example", [INBOX_ADDRESS], make_mail(body="x" * 70_000))
    assert refused.value.smtp_code == 552
    assert row_counts() == before


def test_a_big_mail_sent_without_declaring_its_size_is_refused_with_552_after_data(listener, email_inbox):
    before = row_counts()
    with smtp(listener) as client:
        client.ehlo()
        assert client.mail("jane@customer.example")[0] == 250
        assert client.rcpt(INBOX_ADDRESS)[0] == 250
        code, _ = client.data(make_mail(body="y" * 70_000))
    assert code == 552
    assert row_counts() == before


def test_the_null_sender_of_a_bounce_is_accepted_and_recorded(listener, email_inbox):
    raw = make_mail(sender="MAILER-DAEMON@mx.customer.example", subject="Undelivered Mail Returned to Sender")
    with smtp(listener) as client:
        client.sendmail("<>", [INBOX_ADDRESS], raw)
    assert InboundEntry.objects.get().payload["mail_from"] == ""


def test_too_many_recipients_are_refused_with_452(listener, email_inbox):
    with smtp(listener) as client:
        client.ehlo()
        client.mail("jane@customer.example")
        codes = [client.rcpt(f"user{n}@{DOMAIN}")[0] for n in range(101)]
    assert codes == [250] * 100 + [452]
