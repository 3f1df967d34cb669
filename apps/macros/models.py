"""Macros: a named list of actions an agent applies to a conversation in one step."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.accounts.models import Team
from apps.conversations.models import Conversation


class Macro(models.Model):
    name = models.CharField(max_length=120, unique=True)
    add_labels = models.JSONField(default=list, blank=True, help_text='Label names to add, e.g. ["refund"].')
    remove_labels = models.JSONField(default=list, blank=True, help_text="Label names to remove.")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Move to this team."
    )
    status = models.CharField(max_length=16, blank=True, choices=Conversation.Status.choices)
    snooze_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="With status snoozed: for how long.")
    priority = models.IntegerField(null=True, blank=True, choices=Conversation.Priority.choices)
    reply = models.TextField(
        blank=True, help_text="A canned reply sent first; {contact} and {agent} are replaced by their names."
    )
    reply_is_note = models.BooleanField(default=False, help_text="Add the text as a private note instead.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for field in ("add_labels", "remove_labels"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValidationError({field: "a list of label names"})
        if self.status == Conversation.Status.SNOOZED and not self.snooze_minutes:
            raise ValidationError({"snooze_minutes": "snoozing needs a duration"})

    def actions(self) -> list[str]:
        """The actions in words, in the order they run (for pickers and the timeline)."""
        out: list[str] = []
        if self.reply:
            out.append("add a note" if self.reply_is_note else "send a reply")
        if self.add_labels:
            out.append("add " + ", ".join(self.add_labels))
        if self.remove_labels:
            out.append("remove " + ", ".join(self.remove_labels))
        if self.team_id:
            out.append(f"move to {self.team.name if self.team else 'team'}")
        if self.priority is not None:
            out.append(f"priority {Conversation.Priority(self.priority).label}")
        if self.status:
            out.append(Conversation.Status(self.status).label.lower())
        return out


class MacroApplication(models.Model):
    """One application of a macro (idempotent on the client's id)."""

    macro = models.ForeignKey(Macro, null=True, on_delete=models.SET_NULL, related_name="applications")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "client_id"], name="macro_application_once"),
        ]
