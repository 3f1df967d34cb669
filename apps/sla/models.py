"""Service levels: business hours (a calendar per time zone, team overrides, holidays), SLA
policies with their escalation rules, each conversation's clock, and its breaches."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.accounts.models import Inbox, Team
from apps.conversations.models import Conversation
from apps.sla.calendar import week_validate


class BusinessCalendar(models.Model):
    """When the desk answers. One calendar with no team is the desk's own; a calendar with a team
    overrides it for that team's conversations (and the widgets of that team's inboxes)."""

    name = models.CharField(max_length=120)
    tz = models.CharField(max_length=64, default="UTC", help_text="An IANA time zone, e.g. Europe/Paris.")
    week = models.JSONField(
        default=dict,
        blank=True,
        help_text='Open hours by day: {"mon": [["09:00", "17:30"]], …}; a day left out is closed.',
    )
    team = models.OneToOneField(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="business_calendar")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], name="sla_calendar_name_unique"),
            # One desk-wide calendar.
            models.UniqueConstraint(fields=["team"], condition=Q(team__isnull=True), name="sla_calendar_one_desk_wide"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            week_validate(self.tz, self.week)
        except ValueError as exc:
            raise ValidationError({"week": str(exc)}) from exc


class Holiday(models.Model):
    """A closed day. With no calendar it closes every calendar (a public holiday)."""

    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="sla_holiday_unique")]


class SlaPolicy(models.Model):
    """Targets for conversations that match it (inbox, team, priority; empty matches any).
    The most specific active policy wins: priority, then team, then inbox, then the lowest id."""

    name = models.CharField(max_length=120, unique=True)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    priority = models.IntegerField(null=True, blank=True, choices=Conversation.Priority.choices)
    first_response_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="First reply within this many business minutes (empty: no target)."
    )
    resolution_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Resolved within this many business minutes (empty: no target)."
    )
    business_hours = models.BooleanField(default=True, help_text="Count only business hours (off: around the clock).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class EscalationRule(models.Model):
    """What happens when a policy's target is breached."""

    class Action(models.TextChoices):
        NOTIFY = "notify", "Notify the assignee and the team's supervisors"
        PRIORITY = "priority", "Raise the priority"
        TEAM = "team", "Reassign to a team"

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="escalations")
    target = models.CharField(max_length=20, choices=Target.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    priority = models.IntegerField(null=True, blank=True, choices=Conversation.Priority.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["id"]

    def clean(self) -> None:
        if self.action == self.Action.PRIORITY and self.priority is None:
            raise ValidationError({"priority": "raising the priority needs a priority"})
        if self.action == self.Action.TEAM and self.team_id is None:
            raise ValidationError({"team": "reassigning needs a team"})


class ConversationSla(models.Model):
    """A conversation's clock under its policy, for the current cycle (a reopened conversation
    starts a new cycle). Due times are business-time targets shifted by the time spent waiting
    on the customer (pending); `next_due_at` is the earliest target not yet met, empty while
    paused or when nothing is due: the console list sorts by it."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, primary_key=True, related_name="sla")
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    cycle = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveBigIntegerField(default=0, help_text="Business seconds spent pending.")
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    next_target = models.CharField(max_length=20, blank=True, choices=Target.choices)
    first_response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    check_at = models.DateTimeField(
        null=True, blank=True, help_text="The earliest due time not met and not yet recorded as breached: the sweep's."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_due_at", "conversation"],
                name="sla_next_due_idx",
                condition=Q(next_due_at__isnull=False),
            ),
            models.Index(fields=["check_at"], name="sla_check_at_idx", condition=Q(check_at__isnull=False)),
        ]


class SlaBreach(models.Model):
    """A target missed: exactly one row per (conversation, target, cycle), so the escalation it
    triggers runs once however many sweeps see it."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_breaches")
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=20, choices=Target.choices)
    cycle = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "target", "cycle"], name="sla_breach_once"),
        ]
        indexes = [models.Index(fields=["breached_at"], name="sla_breach_at_idx")]


class SlaPosition(models.Model):
    """How far the SLA clocks have read the event log (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    event_id = models.BigIntegerField(default=0)
    retarget_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="A policy or calendar changed: the next sweep recomputes the open clocks."
    )
