from __future__ import annotations

from django.db import models

from apps.accounts.models import Inbox


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
