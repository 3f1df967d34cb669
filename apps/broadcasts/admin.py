from django.contrib import admin

from apps.broadcasts.models import Broadcast


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ("title", "state", "created_by", "created_at", "finished_at")
    readonly_fields = ("state", "started_at", "finished_at")
