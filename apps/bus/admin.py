from django.contrib import admin

from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt


@admin.register(InboundEntry)
class InboundEntryAdmin(admin.ModelAdmin):
    """Flagged entries are here for an admin: authentic but malformed, kept raw."""

    list_display = ("id", "source", "provider_message_id", "sender", "state", "flag_reason", "attempts", "received_at")
    list_filter = ("state", "channel")
    search_fields = ("provider_message_id", "sender")
    readonly_fields = [f.name for f in InboundEntry._meta.fields] + ["raw_text"]
    exclude = ("raw",)

    @admin.display(description="raw body")
    def raw_text(self, obj: InboundEntry) -> str:
        return bytes(obj.raw).decode("utf-8", errors="replace")


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("message", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state",)


@admin.register(StatusReceipt)
class StatusReceiptAdmin(admin.ModelAdmin):
    list_display = ("provider_message_id", "status", "error_code", "applied", "received_at")
    list_filter = ("status", "applied")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "conversation_id", "inbox_id", "agent_id", "created_at")
    list_filter = ("type",)
