from django.contrib import admin

from apps.gateways.models import ImapCursor, LocalOutboxSend


@admin.register(LocalOutboxSend)
class LocalOutboxSendAdmin(admin.ModelAdmin):
    """What would have been sent, had provider credentials been configured."""

    list_display = ("created_at", "channel", "to", "sender", "body", "provider_id")
    list_filter = ("channel",)
    search_fields = ("to", "body")


@admin.register(ImapCursor)
class ImapCursorAdmin(admin.ModelAdmin):
    """How far IMAP polling of each inbox's folder has got, and its last error."""

    list_display = ("inbox", "folder", "uidvalidity", "last_uid", "mails_taken", "last_polled_at", "last_error")
    readonly_fields = ("uidvalidity", "last_uid", "mails_taken", "last_polled_at", "last_error", "lease_until")
