from __future__ import annotations

from django.db import models


class LocalOutboxSend(models.Model):
    """A send captured by the local backend (no provider credentials configured).

    Like Django's console email backend: nothing leaves the machine, nothing is lost, and an
    admin can read what would have been sent.
    """

    channel = models.CharField(max_length=16)
    to = models.CharField(max_length=320)
    sender = models.CharField(max_length=320, blank=True)
    body = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "local outbox send"


class ImapCursor(models.Model):
    """How far IMAP polling of one inbox's folder has got (docs/EMAIL.md §1).

    A mail is journaled, then moved or flagged on the server, and only then does `last_uid`
    move past it; UIDs are only meaningful within one `uidvalidity`, and a new one means a
    rescan (the journal deduplicates what was already taken). `lease_until` keeps two pollers
    (beat's worker and an embedded loop, or two workers) off the same folder.
    """

    inbox = models.ForeignKey("accounts.Inbox", on_delete=models.CASCADE, related_name="+")
    folder = models.CharField(max_length=255)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    mails_taken = models.PositiveIntegerField(default=0, help_text="Mails journaled from this folder.")

    class Meta:
        verbose_name = "IMAP cursor"
        constraints = [models.UniqueConstraint(fields=["inbox", "folder"], name="imap_cursor_unique")]

    def __str__(self) -> str:
        return f"{self.inbox_id}:{self.folder} @ {self.uidvalidity}/{self.last_uid}"
