"""A broadcast reaches an email customer by mail, threaded into their conversation (a real
SMTP server on loopback), next to an SMS customer."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.broadcasts.services import broadcast_create, broadcast_preview, broadcast_send, broadcasts_dispatch
from apps.conversations.models import Message
from tests.mail.support import compose


def test_an_email_customer_gets_the_notice_by_mail_in_their_thread(
    admin, customer, receive, smtp, email_inbox, django_capture_on_commit_callbacks
):
    mail = receive(compose(subject="Cannot log in", body="The portal is down for me."))
    sms = customer("+14155550901", "portal down?")
    broadcast = broadcast_create(
        by=admin,
        title="Portal outage",
        body="The customer portal is down; we are restoring it.",
        status_url="https://status.example.com",
        audience={"kind": "contacts", "contacts": [mail.conversation.contact_id, sms.conversation.contact_id]},
    )
    assert broadcast_preview(by=admin, broadcast_id=broadcast.pk)["channels"] == {"email": 1, "phone": 1}
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_dispatch(now=timezone.now() + dt.timedelta(minutes=1)) == 2
    notice = Message.objects.get(conversation_id=mail.conversation_id, direction="out", kind="message")
    assert notice.channel == "email" and notice.status in ("sent", "delivered")
    [sent] = smtp.mails
    assert sent.rcpt_tos == ["jane@customer.example"]
    message = sent.message
    assert "Cannot log in" in message["Subject"]  # in the customer's thread
    assert "The customer portal is down" in message.get_body(("plain",)).get_content()
    assert "https://status.example.com" in message.get_body(("plain",)).get_content()
