from __future__ import annotations

from django.db import models


class WhatsAppTemplate(models.Model):
    """A content template of the Twilio account (Content API), as last synced.

    Only templates WhatsApp approved are offered outside the 24-hour window; inside it Twilio
    takes any content template (channels-next.md §3.4)."""

    sid = models.CharField(max_length=34, unique=True, help_text="HX…, Twilio's ContentSid.")
    account_sid = models.CharField(max_length=34, blank=True)
    friendly_name = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=20, blank=True)
    variables = models.JSONField(default=dict, blank=True, help_text='Placeholders and samples: {"1": "Jane"}.')
    types = models.JSONField(default=dict, blank=True, help_text="Twilio's content types, as read.")
    body = models.TextField(blank=True, help_text="The text with {{1}}-style placeholders.")
    approval = models.CharField(max_length=32, blank=True, help_text="WhatsApp approval status.")
    whatsapp_name = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=32, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["friendly_name", "sid"]
        verbose_name = "WhatsApp template"

    def __str__(self) -> str:
        return self.friendly_name or self.sid

    @property
    def approved(self) -> bool:
        return self.approval == "approved"
