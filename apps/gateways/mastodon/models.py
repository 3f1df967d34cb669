"""A Mastodon inbox's account: the instance, the access token, and how far intake has got."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import models

from apps.accounts.models import Inbox


class MastodonAccount(models.Model):
    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="mastodon_account")
    instance_url = models.URLField(help_text="The instance's base URL, e.g. https://mastodon.social.")
    access_token = models.CharField(
        max_length=500,
        help_text="A token of the company's account with read:notifications read:statuses write:statuses "
        "write:media (Preferences → Development, or OAuth).",
    )
    # Filled from verify_credentials / instance on first contact.
    account_id = models.CharField(max_length=100, blank=True, help_text="The desk account's id on its instance.")
    username = models.CharField(max_length=200, blank=True, help_text="The desk account's @acct.")
    max_characters = models.PositiveIntegerField(default=500, help_text="The instance's status length limit.")
    streaming_url = models.CharField(max_length=300, blank=True)
    # The newest notification id made durable (an opaque string, never compared as a number):
    # the next backfill asks for what came after it (min_id).
    notification_cursor = models.CharField(max_length=100, blank=True)
    stream_owner = models.CharField(max_length=120, blank=True)
    stream_lease_until = models.DateTimeField(null=True, blank=True)
    stream_connected_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_backfill_at = models.DateTimeField(null=True, blank=True)
    # Rate limit as the instance last told it (X-RateLimit-*): sends wait for the reset at 0.
    ratelimit_remaining = models.IntegerField(null=True, blank=True)
    ratelimit_reset = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else self.instance_url

    @property
    def base_url(self) -> str:
        return self.instance_url.rstrip("/")

    @property
    def host(self) -> str:
        """The instance's host (with its port when it has one): ids are only unique within it."""
        parts = urlsplit(self.instance_url)
        return (parts.netloc or parts.path).lower()

    @property
    def source(self) -> str:
        """The journal source its statuses are deduplicated under (with the status id)."""
        return f"mastodon:{self.host}:{self.pk}"
