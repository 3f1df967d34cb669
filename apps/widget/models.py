"""The web chat widget: per-inbox settings and the visitors who chat through it."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from apps.accounts.models import Inbox
from apps.contacts.models import Identity
from apps.widget.hours import hours_validate
from apps.widget.origins import origin_valid


def new_secret() -> str:
    return secrets.token_hex(24)


def new_public_id() -> str:
    return "v_" + secrets.token_urlsafe(12)


class WidgetSettings(models.Model):
    """How one widget inbox looks and who may embed it."""

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="widget")
    allowed_origins = models.TextField(
        blank=True,
        help_text="Sites that may embed the widget, one origin a line (https://shop.example.com). "
        "'*' is not allowed. Empty: only this desk's own site (PUBLIC_BASE_URL).",
    )
    greeting = models.CharField(max_length=500, blank=True, default="Hi! How can we help?")
    offline_message = models.CharField(
        max_length=500, blank=True, default="We're away right now. Leave a message and we'll get back to you."
    )
    colour = models.CharField(
        max_length=7,
        default="#1f6feb",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is #rrggbb.")],
    )
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"tz": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]], …}}. Empty: always open.',
    )
    require_identity = models.BooleanField(
        default=False, help_text="Only visitors the host site vouches for (user id + HMAC hash) may chat."
    )
    secret = models.CharField(
        max_length=128, default=new_secret, help_text="Signs visitor identities (HMAC-SHA256 of the user id)."
    )
    ask_email_when_offline = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "widget settings"
        verbose_name_plural = "widget settings"

    def __str__(self) -> str:
        return f"Widget of {self.inbox.name}"

    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]

    def clean(self) -> None:

        for origin in self.origins():
            if "*" in origin:
                raise ValidationError({"allowed_origins": "'*' is not allowed: list each site's origin."})
            if not origin_valid(origin):
                raise ValidationError(
                    {"allowed_origins": f"{origin!r} is not an origin (scheme://host[:port], no path)."}
                )
        try:
            hours_validate(self.business_hours)
        except ValueError as exc:
            raise ValidationError({"business_hours": str(exc)}) from exc


class Visitor(models.Model):
    """Someone chatting through a widget. The browser holds an opaque token; we keep its hash."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="visitors")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 hex of the visitor's token.")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="visitors")
    user_id = models.CharField(max_length=255, blank=True, help_text="The host site's user id, verified by HMAC.")
    email = models.EmailField(blank=True, help_text="Typed by the visitor: a claim, not verified.")
    name = models.CharField(max_length=200, blank=True)
    # Where the visitor started, for the agent: the page (as the browser gave it), the browser
    # (its User-Agent) and the visitor's time zone (IANA name, for their local time).
    page_url = models.CharField(max_length=500, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["inbox", "user_id"], name="visitor_inbox_user_idx")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def verified(self) -> bool:
        return bool(self.user_id)


class OfflineEmail(models.Model):
    """One agent reply emailed to a visitor who was not there: the unique row makes it once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="widget_email")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="+")
    to = models.EmailField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "last_attempt_at"], name="widget_email_retry_idx")]
