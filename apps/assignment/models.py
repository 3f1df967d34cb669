from __future__ import annotations

from django.conf import settings
from django.db import models


class AgentPresence(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    agent = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFLINE)
    chosen_status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.ONLINE,
        help_text="What the agent picked; applied whenever a console is connected.",
    )
    connections = models.IntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "last_assigned_at"], name="presence_rr_idx")]
