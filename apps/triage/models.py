from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.conversations.models import Message
from apps.triage.rules import RuleError, pattern_regex


class TriageRule(models.Model):
    """A rule an admin wrote: when a message matches, it is noise (or kept actionable)."""

    class Action(models.TextChoices):
        NOISE = "noise", "Not actionable (noise)"
        ACTIONABLE = "actionable", "Actionable"

    class Category(models.TextChoices):
        PRAISE = "praise", "Praise"
        CHATTER = "chatter", "Chatter"
        SPAM = "spam", "Spam"
        AUTOMATED = "automated", "Automated"
        OFF_TOPIC = "off_topic", "Off-topic"
        OTHER = "other", "Other"

    class Visibility(models.TextChoices):
        ANY = "", "Public or private"
        PUBLIC = "public", "Public posts only"
        PRIVATE = "private", "Private messages only"

    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(
        default=0, help_text="Rules are tried in this order; the first match decides."
    )
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.NOISE)
    category = models.CharField(max_length=16, choices=Category.choices, blank=True, default=Category.OTHER)
    keywords = models.JSONField(default=list, blank=True, help_text="Words or phrases; any of them matches (any case).")
    pattern = models.CharField(max_length=300, blank=True, help_text="A regular expression (Python syntax, any case).")
    channels = models.JSONField(default=list, blank=True, help_text="Identity kinds; empty: every channel.")
    languages = models.JSONField(default=list, blank=True, help_text="Language codes (en, de, fr, es …); empty: any.")
    known_customer = models.BooleanField(
        null=True, blank=True, help_text="Only known (or only new) customers; empty: both."
    )
    visibility = models.CharField(max_length=8, choices=Visibility.choices, blank=True, default=Visibility.ANY)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The Django admin's check (the API's is services._rule_check)."""
        try:
            pattern_regex(self.pattern)
        except RuleError as exc:
            raise ValidationError({"pattern": str(exc)}) from None


class TriageLabel(models.Model):
    """An agent's answer to "is this actionable?" for one message: what the model learns from.
    One per message (the latest click wins); imported labels have no message."""

    class Source(models.TextChoices):
        AGENT = "agent", "An agent's click"
        IMPORT = "import", "Imported corpus"

    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(help_text="The text as it was labelled (kept if the message goes).")
    channel = models.CharField(max_length=16, blank=True)
    actionable = models.BooleanField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.AGENT)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class TriageModel(models.Model):
    """One trained model: its weights, how it did on held-out labels, and whether it is the one
    in use. At most one is active; every process uses the active one (services.triage_current)."""

    class State(models.TextChoices):
        ACTIVE = "active", "In use"
        RETIRED = "retired", "Replaced by a better one"
        REJECTED = "rejected", "Did not beat the model in use"

    version = models.PositiveIntegerField(unique=True)
    state = models.CharField(max_length=10, choices=State.choices)
    weights = models.BinaryField(help_text="numpy .npz: weights, bias, threshold (apps.triage.learner).")
    threshold = models.FloatField()
    labels_count = models.PositiveIntegerField(help_text="Labels it was trained on.")
    held_out_count = models.PositiveIntegerField()
    precision = models.FloatField(help_text="Of 'actionable', on the held-out labels.")
    recall = models.FloatField()
    previous_precision = models.FloatField(null=True, blank=True, help_text="The model in use then, same labels.")
    previous_recall = models.FloatField(null=True, blank=True)
    last_label_id = models.PositiveBigIntegerField(default=0, help_text="The newest label it saw.")
    trained_at = models.DateTimeField(auto_now_add=True)
    train_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="triage_one_active_model"
            )
        ]


class TriageState(models.Model):
    """One row: versions every process compares with what it cached, and the training lease."""

    rules_version = models.PositiveIntegerField(default=0)
    model_version = models.PositiveIntegerField(null=True, blank=True)
    training_since = models.DateTimeField(null=True, blank=True)
    last_trained_label_id = models.PositiveBigIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=200, blank=True)
