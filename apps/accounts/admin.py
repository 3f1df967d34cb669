from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from apps.accounts.models import Agent, Inbox, Team
from apps.mail.admin import EmailInboxSettingsInline
from apps.widget.admin import WidgetSettingsInline


@admin.register(Agent)
class AgentAdmin(UserAdmin):
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Support", {"fields": ("display_name", "role", "max_conversations")}),
    )
    list_display = ("username", "display_name", "email", "role", "max_conversations", "is_active")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    filter_horizontal = ("members",)


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "address", "team", "auto_assign", "key")
    list_filter = ("channel",)
    filter_horizontal = ("members",)
    readonly_fields = ("key",)
    inlines = [EmailInboxSettingsInline, WidgetSettingsInline]

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # An existing inbox shows the widget settings only when it is a widget inbox.
        return [
            inline
            for inline in super().get_inline_instances(request, obj)
            if not (
                isinstance(inline, WidgetSettingsInline) and obj is not None and obj.channel != Inbox.Channel.WIDGET
            )
        ]
