from django.contrib import admin

from apps.macros.models import Macro


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "priority", "team", "updated_at")
    search_fields = ("name", "reply")
