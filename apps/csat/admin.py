from django.contrib import admin

from apps.csat.models import Survey


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("conversation", "channel", "agent", "status", "skip_reason", "rating", "answered_at")
    list_filter = ("status", "channel", "rating")
    readonly_fields = [f.name for f in Survey._meta.fields]
