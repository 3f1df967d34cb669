from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from apps.core.tokens import new_key


class Agent(AbstractUser):
    """A person who answers customers in the console (Django's user, extended)."""

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        # Between agent and admin: sees every inbox of their teams, the reports, and may
        # reassign conversations (apps.accounts.permissions).
        SUPERVISOR = "supervisor", "Supervisor"
        ADMIN = "admin", "Administrator"

    display_name = models.CharField(max_length=120, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    max_conversations = models.PositiveIntegerField(
        default=10, help_text="How many open conversations auto-assignment gives this agent at once."
    )

    @property
    def name(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    members = models.ManyToManyField(Agent, related_name="teams", blank=True)

    def __str__(self) -> str:
        return self.name


class Inbox(models.Model):
    """One channel account customers write to: an SMS number, a mailbox, a widget, a bot."""

    class Channel(models.TextChoices):
        SMS = "sms", "SMS / MMS / WhatsApp (Twilio)"
        EMAIL = "email", "Email"
        WIDGET = "widget", "Web widget"
        TELEGRAM = "telegram", "Telegram"
        XMPP = "xmpp", "XMPP"
        MASTODON = "mastodon", "Mastodon"

    name = models.CharField(max_length=120)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    key = models.CharField(max_length=64, unique=True, default=new_key, editable=False)
    address = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The address customers write to: an E.164 number, an email address, a bot name.",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inboxes",
        help_text="New conversations go to this team; auto-assignment picks among its members.",
    )
    members = models.ManyToManyField(Agent, related_name="inboxes", blank=True)
    auto_assign = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"
