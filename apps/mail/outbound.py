"""What a reply by email carries (docs/EMAIL.md §4): `OUTBOUND_BUILDERS["email"]`.

The outbox calls `email_outbound_build` before the gateway sends. The headers are decided once,
on the first attempt, and stored (`EmailMessage`), so a retried send carries the same
Message-ID, subject and threading headers as the first.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any

from django.db import transaction

from apps.accounts.models import Inbox
from apps.conversations.models import Conversation, Message
from apps.gateways.base import OutboundMessage, PermanentSendError
from apps.mail.addresses import (
    MAX_REFERENCES,
    anchor_message_id,
    mail_domain,
    one_line,
    our_message_id,
    reply_address,
)
from apps.mail.models import EmailInboxSettings, EmailMessage, EmailMessageId, EmailThread
from apps.mail.services import email_thread_for

NO_EMAIL_INBOX = "No email inbox is set up to send from: add one (admin → Inboxes, channel Email)."


def _send_inbox(thread: EmailThread, conversation: Conversation) -> Inbox | None:
    """The conversation's own inbox when it is an email inbox; else the email inbox the contact
    last wrote to; else the first email inbox."""
    if thread.send_inbox_id:
        return thread.send_inbox
    if conversation.inbox.channel == Inbox.Channel.EMAIL and conversation.inbox.address:
        return conversation.inbox
    used = (
        Conversation.objects.filter(contact_id=conversation.contact_id, inbox__channel=Inbox.Channel.EMAIL)
        .exclude(inbox__address="")
        .select_related("inbox")
        .order_by("-last_activity_at")
        .first()
    )
    if used is not None:
        return used.inbox
    return Inbox.objects.filter(channel=Inbox.Channel.EMAIL).exclude(address="").order_by("id").first()


def _references(parent: EmailMessage | None, previous_out: list[str], anchor: str) -> list[str]:
    """RFC 5322 §3.6.4: the parent's References then its Message-ID; our anchor first; kept short
    (the oldest and the newest ids, which is what clients thread on)."""
    chain = [*parent.references, parent.rfc_id] if parent and parent.rfc_id else list(previous_out)
    ids = list(dict.fromkeys([anchor, *(i for i in chain if i)]))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def render_html(text: str) -> str:
    """The agent's text as a small HTML part: escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", (text or "").strip()) if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body><div style="font-family: sans-serif; font-size: 14px; line-height: 1.4">{body}</div></body></html>'
    )


def _subject(message: Message, thread: EmailThread, from_name: str) -> str:
    token = f"[#{message.conversation_id}]"
    preset = ((message.meta or {}).get("email") or {}).get("subject")
    if preset:  # an auto-acknowledgement's own subject
        return one_line(f"{preset} {token}")
    if thread.subject:
        return one_line(f"Re: {thread.subject} {token}")
    return one_line(f"Your conversation with {from_name} {token}")


def _record(message: Message) -> EmailMessage:
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("inbox", "contact")
            .get(pk=message.conversation_id)
        )
        existing = EmailMessage.objects.filter(message=message).first()
        if existing is not None:
            return existing
        thread = email_thread_for(conversation=conversation)
        inbox = _send_inbox(thread, conversation)
        if inbox is None:
            raise PermanentSendError("no_email_inbox", NO_EMAIL_INBOX)
        if thread.send_inbox_id != inbox.pk:
            thread.send_inbox = inbox
            thread.save(update_fields=["send_inbox"])
        config = EmailInboxSettings.objects.filter(inbox=inbox).first()
        from_name = one_line((config.from_name if config else "") or inbox.name, 120)
        domain = mail_domain(inbox.address)
        rfc_id = our_message_id(conversation_id=conversation.pk, message_id=message.pk, domain=domain)
        anchor = anchor_message_id(conversation_id=conversation.pk, domain=domain)
        parent = (
            EmailMessage.objects.filter(
                message__conversation=conversation, message__direction=Message.Direction.INBOUND
            )
            .exclude(rfc_id="")
            .order_by("-message__seq")
            .first()
        )
        previous_out = list(
            EmailMessageId.objects.filter(conversation=conversation, direction=EmailMessageId.Direction.OUTBOUND)
            .order_by("id")
            .values_list("rfc_id", flat=True)
        )
        references = _references(parent, previous_out, anchor)
        in_reply_to = [parent.rfc_id] if parent else previous_out[-1:]
        identity = message.identity
        record = EmailMessage.objects.create(
            message=message,
            subject=_subject(message, thread, from_name),
            rfc_id=rfc_id,
            in_reply_to=in_reply_to,
            references=references,
            from_address={"address": inbox.address, "name": from_name},
            to=[{"address": identity.address if identity else "", "name": one_line(conversation.contact.name, 200)}],
            reply_to=[{"address": reply_address(thread.reply_token, inbox.address), "name": from_name}],
            text=message.body,
            html=render_html(message.body),
        )
        EmailMessageId.objects.bulk_create(
            [
                EmailMessageId(
                    rfc_id=rfc_id,
                    conversation=conversation,
                    message=message,
                    direction=EmailMessageId.Direction.OUTBOUND,
                ),
                EmailMessageId(rfc_id=anchor, conversation=conversation, direction=EmailMessageId.Direction.ANCHOR),
            ],
            ignore_conflicts=True,
        )
        return record


def _attachments(message: Message) -> list[tuple[str, bytes, str]]:
    if not (message.meta or {}).get("attachments"):
        return []
    files = []
    for attachment in message.attachments.exclude(file="").order_by("id"):
        with attachment.file.open("rb") as handle:
            files.append((attachment.filename or f"attachment-{attachment.pk}", handle.read(), attachment.content_type))
    return files


def email_outbound_build(*, message: Message, outbound: OutboundMessage) -> OutboundMessage:
    record = _record(message)
    auto_ack = bool(((message.meta or {}).get("email") or {}).get("auto_ack"))
    headers: dict[str, str] = {}
    if auto_ack:
        # RFC 3834: marks it as an automatic answer, so that autoresponders do not answer it;
        # Exchange honours X-Auto-Response-Suppress.
        headers = {
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "X-Loop": record.from_address["address"],
        }
    spec: dict[str, Any] = {
        "from_name": record.from_address.get("name", ""),
        "subject": record.subject,
        "message_id": record.rfc_id,
        "in_reply_to": list(record.in_reply_to),
        "references": list(record.references),
        "reply_to": record.reply_to[0]["address"] if record.reply_to else "",
        "html": record.html,
        "headers": headers,
        "attachments": _attachments(message),
    }
    return dataclasses.replace(
        outbound,
        sender=record.from_address["address"],
        body=record.text,
        options={**outbound.options, "email": spec},
    )
