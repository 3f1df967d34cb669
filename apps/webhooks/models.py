from __future__ import annotations

from django.conf import settings
from django.db import models


class WebhookSubscription(models.Model):
    """An admin's URL that receives signed POSTs for the event types it subscribed to."""

    url = models.URLField(max_length=1000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="Public event names (docs/webhooks.md); [] = all.")
    secret = models.CharField(max_length=100, help_text="whsec_… : the HMAC key, shown to the admin.")
    active = models.BooleanField(default=True)
    allow_private = models.BooleanField(
        default=False,
        help_text="An admin allowed this URL's own host to resolve to a private or loopback address.",
    )
    # Events after this id only: a new subscription does not receive the log's history.
    since_event_id = models.BigIntegerField(default=0)
    # One sender at a time per subscription, so deliveries go out in event order.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one subscription: sent until the receiver takes it or a day has passed."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField(help_text="The event log's id (apps.bus Event).")
    event_type = models.CharField(max_length=60, help_text="The public event name.")
    webhook_id = models.CharField(max_length=80, help_text="The stable id header: the same on every attempt.")
    body = models.TextField(help_text="The exact JSON sent on every attempt.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    give_up_at = models.DateTimeField(help_text="No retry after this (a day after the first try).")
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    replay_requested = models.BooleanField(default=False, help_text="An admin asked for it to be sent again.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["subscription", "next_attempt_at", "id"],
                condition=models.Q(state="pending"),
                name="webhook_delivery_due_idx",
            ),
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_log_idx"),
        ]


class WebhookAttempt(models.Model):
    """The log: one row per POST (or refusal before one), with its status and latency."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    replay = models.BooleanField(default=False, help_text="Sent again from the console.")
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=16, help_text="succeeded, retry or failed")

    class Meta:
        indexes = [models.Index(fields=["delivery", "id"], name="webhook_attempt_idx")]


class WebhookCursor(models.Model):
    """How far the fan-out has read the event log (one row, id=1)."""

    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
