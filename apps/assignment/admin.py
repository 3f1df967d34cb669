from django.contrib import admin

from apps.assignment.models import AgentPresence


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ("agent", "status", "chosen_status", "last_seen_at", "last_assigned_at")
