from django.contrib import admin

from apps.gateways.models import LocalOutboxSend


@admin.register(LocalOutboxSend)
class LocalOutboxSendAdmin(admin.ModelAdmin):
    """What would have been sent, had provider credentials been configured."""

    list_display = ("created_at", "channel", "to", "sender", "body", "provider_id")
    list_filter = ("channel",)
    search_fields = ("to", "body")
