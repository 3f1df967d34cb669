from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from apps.accounts.models import Agent, Inbox, Team
from apps.mail.admin import EmailInboxSettingsInline


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
    inlines = [EmailInboxSettingsInline]
