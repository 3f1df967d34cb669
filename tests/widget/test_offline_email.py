"""Agent replies mailed to a visitor who left an email and is not there — once (real SMTP)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.widget.models import OfflineEmail, Visitor
from apps.widget.offline import offline_email_send, offline_email_sweep
from apps.widget.services import visitor_socket_gone, visitor_socket_touch


def _reply(agent, capture, body="We fixed it", client_id="r1") -> Message:
    conversation = Conversation.objects.get()
    with capture(execute=True):
        reply, _ = message_send(conversation_id=conversation.pk, agent=agent, body=body, client_id=client_id)
    reply.refresh_from_db()
    return reply


def test_email_endpoint(widget):
    widget.session()
    response = widget.set_email("  Jo@Example.COM ")
    assert response.status_code == 200 and response.json() == {"email": "jo@example.com"}
    assert Visitor.objects.get().email == "jo@example.com"
    bad = widget.set_email("nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_email"
    assert Visitor.objects.get().email == "jo@example.com"


def test_reply_to_an_absent_visitor_is_mailed_once(widget, agent, smtp, settings, django_capture_on_commit_callbacks):
    settings.INBOUND_EMAIL_DOMAIN = "support.example.org"
    widget.session(name="Jo")
    widget.send("Is my order shipped?", "c-1")
    widget.set_email("jo@example.com")
    reply = _reply(agent, django_capture_on_commit_callbacks, body="Yes, <b>today</b>!")
    assert reply.status == Message.Status.SENT
    [mail] = smtp.wait_for(1)
    message = mail.message
    assert mail.rcpt_tos == ["jo@example.com"]
    assert "Yes, <b>today</b>!" in message.get_body(("plain",)).get_content()
    assert "Yes, &lt;b&gt;today&lt;/b&gt;!" in message.get_body(("html",)).get_content()
    thread_token = Conversation.objects.get().email_thread.reply_token
    assert message["Reply-To"] == f"reply+{thread_token}@support.example.org"
    assert OfflineEmail.objects.get(message=reply).state == OfflineEmail.State.SENT
    # The sweep and a repeated task never mail it again.
    assert offline_email_send(message_id=reply.pk, force=True) == "already"
    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    offline_email_sweep()
    assert len(smtp.mails) == 1


def test_no_email_left_no_mail(widget, agent, smtp, django_capture_on_commit_callbacks):
    widget.session()
    widget.send("hi", "c-1")
    _reply(agent, django_capture_on_commit_callbacks)
    assert smtp.mails == [] and OfflineEmail.objects.count() == 0


def test_connected_visitor_is_mailed_only_if_the_reply_stays_unread(
    widget, agent, smtp, settings, django_capture_on_commit_callbacks
):
    widget.session(email="jo@example.com")
    widget.send("hi", "c-1")
    visitor = Visitor.objects.get()
    visitor_socket_touch(visitor.pk)
    read = _reply(agent, django_capture_on_commit_callbacks, body="first", client_id="r1")
    unread = _reply(agent, django_capture_on_commit_callbacks, body="second", client_id="r2")
    assert smtp.mails == []  # a socket is connected: no mail now
    # The visitor's widget shows the first (history fetched), then the socket goes away.
    from apps.widget.services import visitor_message_ids_seen

    assert visitor_message_ids_seen(visitor=visitor, message_ids=[read.pk]) == 1
    visitor_socket_gone(visitor.pk)
    # Not due yet.
    offline_email_sweep()
    assert smtp.mails == []
    later = timezone.now() + dt.timedelta(seconds=settings.WIDGET_OFFLINE_EMAIL_DELAY + 1)
    assert offline_email_sweep(now=later) == {"sent": 1}
    [mail] = smtp.wait_for(1)
    assert "second" in mail.message.get_body(("plain",)).get_content()
    assert offline_email_sweep(now=later) == {}
    assert OfflineEmail.objects.get().message_id == unread.pk


def test_transient_smtp_failure_is_retried_by_the_sweep(
    widget, agent, smtp, settings, django_capture_on_commit_callbacks
):
    widget.session(email="jo@example.com")
    widget.send("hi", "c-1")
    smtp.refuse("451 4.3.0 Try again later", stage="DATA")
    reply = _reply(agent, django_capture_on_commit_callbacks)
    row = OfflineEmail.objects.get(message=reply)
    assert row.state == OfflineEmail.State.PENDING and "451" in row.error
    assert smtp.mails == []
    later = timezone.now() + dt.timedelta(minutes=2)
    assert offline_email_sweep(now=later) == {"sent": 1}
    assert len(smtp.wait_for(1)) == 1
    assert OfflineEmail.objects.get(message=reply).attempts == 2


def test_permanent_smtp_refusal_is_not_retried(widget, agent, smtp, django_capture_on_commit_callbacks):
    widget.session(email="jo@example.com")
    widget.send("hi", "c-1")
    smtp.refuse("550 5.1.1 No such user", stage="RCPT")
    reply = _reply(agent, django_capture_on_commit_callbacks)
    assert OfflineEmail.objects.get(message=reply).state == OfflineEmail.State.FAILED
    assert offline_email_sweep(now=timezone.now() + dt.timedelta(minutes=5)) == {}
    assert smtp.mails == []


def test_email_changes_are_rate_limited(widget, settings, window_start):
    settings.WIDGET_RATE_MESSAGES = "2/10"
    widget.session()
    assert widget.set_email("a@example.com").status_code == 200
    assert widget.set_email("b@example.com").status_code == 200
    refused = widget.set_email("c@example.com")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert Visitor.objects.get().email == "b@example.com"


def test_answer_by_email_continues_the_chat(widget, agent, smtp, settings, django_capture_on_commit_callbacks):
    """The visitor answers the mailed reply from their mail client: it lands in the same
    conversation (the reply address), and the widget shows it in the history."""
    from apps.gateways.email.intake import email_accept, envelope_of
    from tests.mail.support import compose

    settings.INBOUND_EMAIL_DOMAIN = "support.example.org"
    widget.session(email="jo@example.com")
    widget.send("Is my order shipped?", "c-1")
    _reply(agent, django_capture_on_commit_callbacks, body="Yes, today.")
    [mail] = smtp.wait_for(1)
    reply_to = mail.message["Reply-To"]
    raw = compose(
        sender="Jo <jo@example.com>",
        to=reply_to,
        subject=f"Re: {mail.message['Subject']}",
        body="Great, thanks!",
        in_reply_to=None,
    )
    envelope = envelope_of(transport="smtp", mail_from="jo@example.com", rcpt_tos=[reply_to], peer="127.0.0.1")
    with django_capture_on_commit_callbacks(execute=True):
        email_accept(raw=raw, envelope=envelope)
    conversation = Conversation.objects.get()
    answer = conversation.messages.get(body__startswith="Great, thanks!")
    assert answer.direction == Message.Direction.INBOUND and answer.channel == "email"
    texts = [m["text"] for m in widget.history().json()["messages"]]
    assert texts[:2] == ["Is my order shipped?", "Yes, today."] and texts[2].startswith("Great, thanks!")
