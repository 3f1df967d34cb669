"""Replies by email through the outbox to a real SMTP server (aiosmtpd on loopback, reached the
way EMAIL_URL configures it): headers, parts, attachments, and what SMTP answers do."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.conversations.models import Message
from apps.conversations.services import FileUpload, message_send
from apps.mail.addresses import anchor_message_id, our_message_id
from apps.mail.models import EmailMessage, EmailMessageId
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, compose, new_message_id

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def janes(email_inbox, receive) -> Message:
    earlier = new_message_id()
    return receive(
        compose(subject="Re: Router problem", message_id=new_message_id(), in_reply_to=earlier, references=[earlier])
    )


def reply(agent, janes, django_capture_on_commit_callbacks, body="Have you tried turning it off and on again?", **kw):
    with django_capture_on_commit_callbacks(execute=True):
        message, created = message_send(
            conversation_id=janes.conversation_id, agent=agent, body=body, client_id=kw.pop("client_id", "c-1"), **kw
        )
    assert created
    message.refresh_from_db()
    return message


def test_reply_goes_out_with_threading_headers_both_parts_and_the_attachment(
    janes, agent, smtp, django_capture_on_commit_callbacks
):
    conversation_id = janes.conversation_id
    customer = EmailMessage.objects.get(message=janes)
    token = janes.conversation.email_thread.reply_token

    message = reply(
        agent,
        janes,
        django_capture_on_commit_callbacks,
        body="Hello Jane,\n\nplease try this <b>now</b>.\nAna",
        attachments=[FileUpload(filename="manual.pdf", content_type="application/pdf", data=PDF)],
    )

    assert message.status == Message.Status.SENT
    [captured] = smtp.wait_for(1)
    assert captured.mail_from == INBOX_ADDRESS
    assert captured.rcpt_tos == [JANE]
    mail = captured.message
    ours = our_message_id(conversation_id=conversation_id, message_id=message.pk, domain=DOMAIN)
    anchor = anchor_message_id(conversation_id=conversation_id, domain=DOMAIN)
    assert mail["From"] == f"Acme Support <{INBOX_ADDRESS}>"
    assert mail["To"] == JANE
    assert mail["Reply-To"] == f"reply+{token}@{DOMAIN}"
    assert mail["Message-ID"] == f"<{ours}>"
    assert mail["In-Reply-To"] == f"<{customer.rfc_id}>"
    assert mail["References"].split() == [f"<{anchor}>", f"<{customer.references[0]}>", f"<{customer.rfc_id}>"]
    assert mail["Subject"] == f"Re: Router problem [#{conversation_id}]"
    assert mail["Auto-Submitted"] is None
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == "Hello Jane,\n\nplease try this <b>now</b>.\nAna"
    assert "<p>Hello Jane,</p><p>please try this &lt;b&gt;now&lt;/b&gt;.<br>Ana</p>" in html.get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "manual.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF
    assert message.provider_id == ours
    assert EmailMessageId.objects.filter(rfc_id=ours, direction="out", message=message).exists()


def test_second_reply_keeps_the_subject_and_threads_after_the_customers_newest_mail(
    janes, agent, smtp, receive, django_capture_on_commit_callbacks
):
    first = reply(agent, janes, django_capture_on_commit_callbacks)
    first_id = EmailMessage.objects.get(message=first).rfc_id
    answer_id = new_message_id()
    receive(
        compose(
            subject=f"Re: Router problem [#{janes.conversation_id}]",
            message_id=answer_id,
            in_reply_to=first_id,
            references=[first_id],
        )
    )

    reply(agent, janes, django_capture_on_commit_callbacks, body="Glad it works.", client_id="c-2")

    second = smtp.wait_for(2)[1].message
    anchor = anchor_message_id(conversation_id=janes.conversation_id, domain=DOMAIN)
    assert second["Subject"] == f"Re: Router problem [#{janes.conversation_id}]"
    assert second["In-Reply-To"] == f"<{answer_id}>"
    assert second["References"].split() == [f"<{anchor}>", f"<{first_id}>", f"<{answer_id}>"]


def test_smtp_4xx_is_retried_and_the_retry_carries_the_same_message_id(
    janes, agent, smtp, django_capture_on_commit_callbacks
):
    smtp.refuse("451 4.3.0 Try again later", stage="DATA")

    message = reply(agent, janes, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=message)
    assert (entry.state, entry.attempts) == (OutboxEntry.State.PENDING, 1)
    assert "451 4.3.0 Try again later" in entry.last_error
    assert smtp.mails == []
    stored_id = EmailMessage.objects.get(message=message).rfc_id

    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=message.pk) == "sent"

    [captured] = smtp.wait_for(1)
    assert captured.message["Message-ID"] == f"<{stored_id}>"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert OutboxEntry.objects.get(pk=entry.pk).state == OutboxEntry.State.DONE


def test_smtp_5xx_fails_the_reply_in_words_and_is_not_retried(janes, agent, smtp, django_capture_on_commit_callbacks):
    smtp.refuse("550 5.1.1 <jane@customer.example>: Recipient address rejected", stage="RCPT")

    message = reply(agent, janes, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.FAILED
    assert message.error_code == "smtp_550"
    assert message.error_message == (
        "The mail server refused the mail: 550 5.1.1 <jane@customer.example>: Recipient address rejected"
    )
    entry = OutboxEntry.objects.get(message=message)
    assert (entry.state, entry.attempts) == (OutboxEntry.State.FAILED, 1)
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_deliver(message_id=message.pk) == "skipped"
    assert smtp.mails == []
    assert smtp.attempts == 1


def test_unreachable_smtp_server_is_a_transient_error(janes, agent, settings, django_capture_on_commit_callbacks):
    from tests.mail.smtp_capture import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    settings.EMAIL_SEND_TIMEOUT = 2.0

    message = reply(agent, janes, django_capture_on_commit_callbacks)

    assert message.status == Message.Status.QUEUED
    entry = OutboxEntry.objects.get(message=message)
    assert entry.state == OutboxEntry.State.PENDING
    assert "could not talk to the mail server" in entry.last_error


def test_attachments_are_refused_on_a_channel_that_cannot_carry_them(
    agent, receive_sms, django_capture_on_commit_callbacks
):
    from apps.bus import registry
    from apps.core.errors import InvalidInput

    sms = receive_sms()
    saved = registry.snapshot()
    # A channel registered without files (SMS carries them as MMS since issue 11).
    registry.register_sender("phone", gateway=registry.sender_for("phone").gateway)
    try:
        with pytest.raises(InvalidInput) as refused:
            message_send(
                conversation_id=sms.conversation_id,
                agent=agent,
                body="see attached",
                client_id="c-1",
                attachments=[FileUpload(filename="a.pdf", content_type="application/pdf", data=PDF)],
            )
    finally:
        registry.restore(saved)

    assert refused.value.code == "attachments_not_supported"
    assert str(refused.value) == (
        "a reply on Phone (SMS/MMS) cannot carry attachments; remove the files or reply on a channel that can"
    )
    assert Message.objects.filter(direction="out").count() == 0


def test_non_ascii_sender_name_and_subject_are_encoded_and_read_back(
    email_inbox, agent, smtp, receive, django_capture_on_commit_callbacks
):
    from apps.mail.models import EmailInboxSettings

    EmailInboxSettings.objects.filter(inbox=email_inbox).update(from_name="Zoë's Support")
    customer = receive(compose(subject="Réseau en panne — 東京", body="Ça ne marche pas."))

    reply(agent, customer, django_capture_on_commit_callbacks, body="Voilà la solution : redémarrez.")

    mail = smtp.wait_for(1)[0].message
    assert mail["From"].addresses[0].display_name == "Zoë's Support"
    assert mail["Subject"] == f"Re: Réseau en panne — 東京 [#{customer.conversation_id}]"
    assert mail.get_body(preferencelist=("plain",)).get_content().strip() == "Voilà la solution : redémarrez."
