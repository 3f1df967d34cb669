"""Customer satisfaction: one question after a conversation is resolved, and its answer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.contacts.models import Identity
from apps.conversations.models import Conversation
from apps.core.tokens import new_key


class Survey(models.Model):
    """The question asked about one conversation: at most one per conversation (the constraint
    is the "once"), answered at most once."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Not sent"
        ANSWERED = "answered", "Answered"

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="survey")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_key, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices)
    skip_reason = models.CharField(max_length=64, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True, help_text="The question, as sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="csat_rating_1_to_5"
            ),
        ]
        indexes = [
            models.Index(fields=["identity", "status", "created_at"], name="csat_identity_idx"),
            models.Index(fields=["agent", "answered_at"], name="csat_agent_idx"),
        ]


class CsatPosition(models.Model):
    """How far the survey sender has read the event log (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    event_id = models.BigIntegerField(default=0)
