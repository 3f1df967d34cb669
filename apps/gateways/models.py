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
