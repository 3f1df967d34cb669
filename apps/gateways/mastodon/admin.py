from django.contrib import admin

from apps.gateways.mastodon.models import MastodonAccount


@admin.register(MastodonAccount)
class MastodonAccountAdmin(admin.ModelAdmin):
    """A Mastodon inbox's account: instance, token, and the listener's health."""

    list_display = (
        "inbox",
        "instance_url",
        "username",
        "stream_connected_at",
        "last_event_at",
        "last_backfill_at",
        "ratelimit_remaining",
        "last_error",
    )
    readonly_fields = (
        "account_id",
        "username",
        "max_characters",
        "streaming_url",
        "notification_cursor",
        "stream_owner",
        "stream_lease_until",
        "stream_connected_at",
        "last_event_at",
        "last_backfill_at",
        "ratelimit_remaining",
        "ratelimit_reset",
        "last_error",
    )
