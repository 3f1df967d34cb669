from __future__ import annotations

import secrets

from django.db import models

from apps.accounts.models import Inbox
from apps.bus.models import InboundEntry
from apps.conversations.models import Conversation, Message


class EmailInboxSettings(models.Model):
    """How an email inbox gets its mail (besides the SMTP listener and the webhook) and answers it.

    The inbox's own `address` is the address customers write to (support@example.com).
    """

    class ImapSecurity(models.TextChoices):
        SSL = "ssl", "SSL/TLS (port 993)"
        STARTTLS = "starttls", "STARTTLS (port 143)"
        NONE = "none", "None (local servers only)"

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="email_settings")
    from_name = models.CharField(
        max_length=120, blank=True, help_text="Display name on replies; the inbox name if empty."
    )

    # IMAP polling of a mailbox (optional).
    imap_enabled = models.BooleanField(default=False)
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(max_length=16, choices=ImapSecurity.choices, default=ImapSecurity.SSL)
    imap_username = models.CharField(max_length=255, blank=True)
    imap_password = models.CharField(max_length=255, blank=True)
    imap_folder = models.CharField(max_length=255, default="INBOX")
    imap_processed_folder = models.CharField(
        max_length=255, blank=True, help_text="Move processed mail here; empty: flag it and leave it."
    )

    # Automatic acknowledgement of a new conversation (never to automatic mail).
    auto_ack_enabled = models.BooleanField(default=False)
    auto_ack_subject = models.CharField(max_length=200, blank=True, default="We received your message")
    auto_ack_text = models.TextField(
        blank=True, default="Thanks for writing to us. We have your message and will answer as soon as we can."
    )

    class Meta:
        verbose_name = "email inbox settings"
        verbose_name_plural = "email inbox settings"

    def __str__(self) -> str:
        return f"Email settings of {self.inbox}"


def new_reply_token() -> str:
    """128 random bits as lower-case hex: survives MTAs that fold the local part's case."""
    return secrets.token_hex(16)


class EmailThread(models.Model):
    """A conversation's email state: the token of its reply address and the ticket's subject.

    Created with the first mail in or out of the conversation (a conversation that started on
    SMS gets one when an agent first replies by email).
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="email_thread"
    )
    reply_token = models.CharField(max_length=32, unique=True, default=new_reply_token, editable=False)
    subject = models.CharField(max_length=255, blank=True, help_text="The first mail's subject, without Re:/token.")
    send_inbox = models.ForeignKey(
        Inbox,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The email inbox replies go out from (the conversation's own, when it is an email inbox).",
    )
    suspicious_reason = models.CharField(
        max_length=500, blank=True, help_text="Why this conversation was kept apart from the one its mail pointed at."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Email thread of conversation {self.conversation_id}"


class EmailMessageId(models.Model):
    """Every Message-ID we know in a conversation: the customers' mails, ours, and the
    conversation's anchor. Replies are threaded by looking their In-Reply-To/References up here."""

    class Direction(models.TextChoices):
        INBOUND = "in", "From the customer"
        OUTBOUND = "out", "Sent by us"
        ANCHOR = "anchor", "Conversation anchor"

    rfc_id = models.CharField(max_length=998, help_text="The Message-ID, lower-cased, without angle brackets.")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "rfc_id"], name="email_message_id_unique"),
        ]
        indexes = [models.Index(fields=["rfc_id"], name="email_message_id_idx")]


class EmailMessage(models.Model):
    """What the console shows of a mail beyond the message's text, kept off `Message.meta` so
    that events stay small (the meta carries only flags and a short subject)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="email")
    subject = models.TextField(blank=True)
    rfc_id = models.CharField(max_length=998, blank=True, help_text="Its Message-ID, without angle brackets.")
    in_reply_to = models.JSONField(default=list, blank=True)
    references = models.JSONField(default=list, blank=True)
    from_address = models.JSONField(default=dict, blank=True, help_text='{"address", "name"}')
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    reply_to = models.JSONField(default=list, blank=True)
    date = models.DateTimeField(null=True, blank=True)
    text = models.TextField(blank=True, help_text="The full plain text, quoted history included.")
    html = models.TextField(blank=True, help_text="Sanitized HTML (inline images point at stored attachments).")
    auto_reasons = models.JSONField(default=list, blank=True, help_text="Why this is automatic mail; [] for a person.")
    suspicious_reason = models.CharField(max_length=500, blank=True)
    entry = models.ForeignKey(
        InboundEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The journal entry holding the raw mail (inbound).",
    )
    bounce = models.JSONField(null=True, blank=True, help_text="The delivery report that failed this reply.")
    bounce_entry = models.ForeignKey(
        InboundEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The raw bounce."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Email of message {self.message_id}"


class AutoAckClaim(models.Model):
    """The loop brake: an auto-acknowledgement claims its scope (the conversation, and the
    sender's address in the inbox) for the current clock hour and the next. The unique
    constraint then refuses any second acknowledgement within the hour, whatever races."""

    scope = models.CharField(max_length=400, help_text="conversation:<id> or address:<inbox id>:<address>")
    hour = models.BigIntegerField(help_text="Hours since the Unix epoch.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "hour"], name="auto_ack_once_per_hour")]
