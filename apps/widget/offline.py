"""Agent replies emailed to a visitor who left an address and is not there to read them.

A reply goes out by email once: at once when no socket of the visitor is connected as the
reply is sent, else when it is still unread (not `delivered`) WIDGET_OFFLINE_EMAIL_DELAY
seconds later (the sweep). "Once" is a unique row per message (`OfflineEmail`), claimed before
the mail is handed to the SMTP server; a transient SMTP failure is retried by the sweep a few
times. When INBOUND_EMAIL_DOMAIN is set the mail's Reply-To is the conversation's reply
address (apps.mail), so the visitor's answer by email lands in the same conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.conversations.models import Message
from apps.mail.addresses import one_line, reply_address
from apps.mail.outbound import render_html
from apps.mail.services import email_thread_for
from apps.widget.models import OfflineEmail, Visitor
from apps.widget.services import visitor_socket_connected

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_AFTER = dt.timedelta(seconds=60)
GIVE_UP_AFTER = dt.timedelta(days=1)  # older unread replies are not mailed any more


def _from_address() -> tuple[str, str]:
    inbox = Inbox.objects.filter(channel=Inbox.Channel.EMAIL).exclude(address="").order_by("id").first()
    if inbox is not None:
        return inbox.address, inbox.name
    if settings.INBOUND_EMAIL_DOMAIN:
        return f"support@{settings.INBOUND_EMAIL_DOMAIN}", ""
    return settings.DEFAULT_FROM_EMAIL, ""


def _reply_to(message: Message) -> str:
    if not settings.INBOUND_EMAIL_DOMAIN:
        return ""

    with transaction.atomic():
        thread = email_thread_for(conversation=message.conversation)
    return reply_address(thread.reply_token, "")


def _claim(message: Message, visitor: Visitor, now: dt.datetime) -> OfflineEmail | None:
    """The row for this reply; None when another run has it already (sent, failed, or busy)."""
    try:
        with transaction.atomic():
            return OfflineEmail.objects.create(
                message=message, visitor=visitor, to=visitor.email, attempts=1, last_attempt_at=now
            )
    except IntegrityError:
        pass
    # A pending row whose last attempt failed transiently: one retry at a time (a conditional UPDATE).
    claimed = OfflineEmail.objects.filter(
        message=message,
        state=OfflineEmail.State.PENDING,
        attempts__lt=MAX_ATTEMPTS,
        last_attempt_at__lt=now - RETRY_AFTER,
    ).update(attempts=F("attempts") + 1, last_attempt_at=now)
    return OfflineEmail.objects.get(message=message) if claimed else None


def _visitor_of(message: Message) -> Visitor | None:
    if message.identity_id is None:
        return None
    return Visitor.objects.filter(identity_id=message.identity_id).order_by("-last_seen_at").first()


def offline_email_send(*, message_id: int, force: bool = False, now: dt.datetime | None = None) -> str:
    """Mail one agent reply to its visitor if they should get it. Returns what happened.

    `force`: the sweep found it unread after the delay (a connected socket does not matter then).
    """
    message = (
        Message.objects.select_related("conversation", "inbox", "sender", "identity")
        .filter(pk=message_id, direction=Message.Direction.OUTBOUND, kind=Message.Kind.MESSAGE, channel="widget")
        .first()
    )
    if message is None:
        return "not_widget"
    if message.status in (Message.Status.DELIVERED, Message.Status.READ, Message.Status.FAILED):
        return "seen"
    visitor = _visitor_of(message)
    if visitor is None or not visitor.email:
        return "no_email"
    if not force and visitor_socket_connected(visitor.pk):
        return "connected"
    row = _claim(message, visitor, now or timezone.now())
    if row is None:
        return "already"
    try:
        _send(message, visitor, row)
    except (smtplib.SMTPException, OSError) as exc:
        permanent = (isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600) or (
            isinstance(exc, smtplib.SMTPRecipientsRefused)
            and all(500 <= code < 600 for code, _ in exc.recipients.values())
        )
        gave_up = permanent or row.attempts >= MAX_ATTEMPTS
        OfflineEmail.objects.filter(pk=row.pk).update(
            state=OfflineEmail.State.FAILED if gave_up else OfflineEmail.State.PENDING, error=repr(exc)[:500]
        )
        log.warning("offline email of message %s to %s failed: %r", message_id, visitor.email, exc)
        return "failed" if gave_up else "retry"
    OfflineEmail.objects.filter(pk=row.pk).update(state=OfflineEmail.State.SENT, sent_at=timezone.now(), error="")
    return "sent"


def _send(message: Message, visitor: Visitor, row: OfflineEmail) -> None:
    from_address, from_name = _from_address()
    inbox_name = one_line(message.inbox.name, 120)
    agent = message.sender
    who = (agent.display_name or agent.first_name) if agent else ""
    intro = f"{who} from {inbox_name}" if who else inbox_name
    text = (
        f"{intro} answered your chat while you were away:\n\n{message.body}\n\n"
        "Reply to this email, or open the chat on the site again to continue."
    )
    reply_to = _reply_to(message)
    mail = EmailMultiAlternatives(
        subject=one_line(f"New reply from {inbox_name} [#{message.conversation_id}]"),
        body=text,
        from_email=formataddr((from_name or inbox_name, from_address)),
        to=[row.to],
        reply_to=[reply_to] if reply_to else None,
        headers={"Auto-Submitted": "auto-generated", "X-Supportdesk-Widget-Message": str(message.pk)},
    )
    mail.attach_alternative(render_html(text), "text/html")
    get_connection(fail_silently=False, timeout=settings.EMAIL_SEND_TIMEOUT).send_messages([mail])


def offline_email_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Replies still unread WIDGET_OFFLINE_EMAIL_DELAY seconds after they were sent, and mails
    whose last attempt failed transiently."""
    now = now or timezone.now()
    due = now - dt.timedelta(seconds=settings.WIDGET_OFFLINE_EMAIL_DELAY)
    unread = list(
        Message.objects.filter(
            channel="widget",
            direction=Message.Direction.OUTBOUND,
            kind=Message.Kind.MESSAGE,
            status=Message.Status.SENT,
            created_at__lte=due,
            created_at__gte=now - GIVE_UP_AFTER,
            widget_email__isnull=True,
            identity__visitors__email__gt="",
        )
        .values_list("id", flat=True)
        .distinct()[:500]
    )
    retry = list(
        OfflineEmail.objects.filter(
            state=OfflineEmail.State.PENDING, attempts__lt=MAX_ATTEMPTS, last_attempt_at__lt=now - RETRY_AFTER
        ).values_list("message_id", flat=True)[:500]
    )
    results: dict[str, int] = {}
    for message_id in [*unread, *retry]:
        outcome = offline_email_send(message_id=message_id, force=True, now=now)
        results[outcome] = results.get(outcome, 0) + 1
    return results
