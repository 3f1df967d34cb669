from django.contrib import admin

from apps.conversations.models import Attachment, Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("seq", "direction", "kind", "channel", "body", "status", "error_code", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "inbox", "contact", "status", "assignee", "priority", "last_activity_at")
    list_filter = ("status", "inbox")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "seq", "direction", "kind", "channel", "status", "error_code", "created_at")
    list_filter = ("direction", "kind", "status", "channel")
    search_fields = ("body", "provider_id")


admin.site.register(Attachment)
