from __future__ import annotations

from typing import Any

from django.db import models

from apps.core.json_fields import FastJSONField


class InboundEntry(models.Model):
    """The inbound journal: what a provider handed us, stored before we answer it.

    The unique (source, provider_message_id) constraint is the deduplication: a provider's
    redelivery, or the same webhook reaching two web processes at once, inserts one row.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FLAGGED = "flagged", "Flagged (authentic but malformed)"
        FAILED = "failed", "Failed (gave up after retries)"

    source = models.CharField(max_length=100, help_text="Channel account, e.g. twilio:AC…")
    provider_message_id = models.CharField(max_length=255)
    channel = models.CharField(max_length=16)
    sender = models.CharField(
        max_length=320, blank=True, help_text="Raw sender address; one sender is processed in order."
    )
    payload = models.JSONField(default=dict)
    raw = models.BinaryField(blank=True, default=b"")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    flag_reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="Processing failed: not again before then (backoff)."
    )
    last_error = models.TextField(blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbound journal"
        constraints = [models.UniqueConstraint(fields=["source", "provider_message_id"], name="inbound_dedupe")]
        indexes = [
            models.Index(fields=["state", "received_at"], name="inbound_state_idx"),
            models.Index(fields=["source", "sender", "state"], name="inbound_sender_idx"),
            # The drain's claim: pending entries in journal order.
            models.Index(fields=["id"], condition=models.Q(state="pending"), name="inbound_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.provider_message_id} ({self.state})"


class OutboxEntry(models.Model):
    """One outbound message to hand to a provider; written with the message, in its transaction."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="outbox")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then (renewed while it does); others keep off."
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    attempt_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An attempt whose outcome is not known yet: the provider is asked before sending again.",
    )
    provider_checks = models.PositiveIntegerField(default=0, help_text="Times the provider was asked about it.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["next_attempt_at"], condition=models.Q(state="pending"), name="outbox_pending_idx"),
        ]


class StatusReceipt(models.Model):
    """Append-only log of delivery-status callbacks. A repeat of the same status is one row."""

    source = models.CharField(max_length=100)
    provider_message_id = models.CharField(max_length=255)
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=32, blank=True)
    payload = models.JSONField(default=dict)
    # Our message id, when the provider hands it back (Twilio: the status callback URL carries
    # it): a send whose answer was lost is then known to have reached the provider.
    message_ref = models.BigIntegerField(null=True, blank=True)
    applied = models.BooleanField(default=False)
    # The receipt drain found no message with this provider id yet (its send is not recorded):
    # the receipt waits for `outbox_settle_sent` (or the sweeper) and the drain never reads it
    # again, so a pile of such receipts costs the drain nothing.
    waiting = models.BooleanField(default=False, db_default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "provider_message_id", "status"], name="status_receipt_dedupe")
        ]
        indexes = [
            models.Index(fields=["provider_message_id"], name="status_receipt_pid_idx"),
            models.Index(
                fields=["message_ref"], condition=models.Q(message_ref__isnull=False), name="status_receipt_ref_idx"
            ),
            models.Index(
                fields=["received_at"], condition=models.Q(applied=False), name="status_receipt_unapplied_idx"
            ),
            models.Index(
                fields=["id"], condition=models.Q(applied=False, waiting=False), name="status_receipt_fresh_idx"
            ),
        ]


class Event(models.Model):
    """The event log: the truth behind every live push. Ids are global and increase."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    inbox_id = models.BigIntegerField(
        null=True, blank=True, help_text="Visible to the agents of this inbox; empty: to all agents."
    )
    agent_id = models.BigIntegerField(
        null=True, blank=True, help_text="Visible to this agent only (a mention, a notification)."
    )
    data = FastJSONField(default=dict)  # read by orjson: pages of the log are read whole
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["inbox_id", "id"], name="event_inbox_idx"),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]

    def as_frame(self) -> dict:
        return event_frame(self.id, self.type, self.conversation_id, self.data)


def event_frame(id_: int, type_: str, conversation_id: int | None, data: Any) -> dict[str, Any]:
    """An event as consoles receive it (a socket frame, an item of `GET /api/v1/events`)."""
    return {"id": id_, "type": type_, "conversation": conversation_id, "data": data}
