from __future__ import annotations

from django.conf import settings
from django.db import models


class Broadcast(models.Model):
    """A status notice sent once to an audience of customers, each on the channel they use."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENDING = "sending", "Sending"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    title = models.CharField(max_length=200, help_text="For the desk (the customers see the notice).")
    body = models.TextField(help_text="The notice the customers read.")
    status_url = models.URLField(max_length=500, blank=True, help_text="The status page, linked after the notice.")
    # {"kind": "label", "label": <id>} | {"kind": "search", "q": "...", "inbox": <id>|null}
    # | {"kind": "contacts", "contacts": [<id>, ...]}
    audience = models.JSONField(default=dict)
    # The approved WhatsApp template for customers outside WhatsApp's 24-hour window:
    # {"sid": "HX…", "variables": {"1": "…"}}; without one they are skipped.
    whatsapp_template = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title


class BroadcastRecipient(models.Model):
    """One contact of a broadcast: at most one row per contact (the constraint), so a crash and
    a restart never send a notice twice."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting its turn"
        SENT = "sent", "Handed to the outbox"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed before sending"

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    identity = models.ForeignKey(
        "contacts.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, blank=True, help_text="Identity kind it goes on.")
    sender_id = models.BigIntegerField(
        null=True, blank=True, help_text="The inbox it goes out from (paced per sender)."
    )
    use_template = models.BooleanField(default=False, help_text="WhatsApp outside the window: the template.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=40, blank=True, help_text="Why skipped or failed (a code).")
    detail = models.CharField(max_length=500, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, help_text="Not before then: each sender's rate.")
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "contact"], name="broadcast_recipient_once")]
        indexes = [
            models.Index(fields=["due_at", "id"], condition=models.Q(state="pending"), name="broadcast_due_idx"),
            models.Index(fields=["broadcast", "state"], name="broadcast_state_idx"),
        ]
