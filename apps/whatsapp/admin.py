from django.contrib import admin

from apps.whatsapp.models import WhatsAppTemplate


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    list_display = ["friendly_name", "sid", "language", "approval", "synced_at"]
    search_fields = ["friendly_name", "sid", "body"]
    readonly_fields = [f.name for f in WhatsAppTemplate._meta.fields]
