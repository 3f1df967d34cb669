from django.contrib import admin

from apps.triage.models import TriageLabel, TriageModel, TriageRule
from apps.triage.services import rules_changed


@admin.register(TriageRule)
class TriageRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "enabled", "action", "category", "updated_at")
    list_editable = ("position", "enabled")
    ordering = ("position", "id")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # Saved as a form saves it, then the version bump, so every process reloads the rules.
        super().save_model(request, obj, form, change)
        rules_changed()

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        super().delete_model(request, obj)
        rules_changed()


@admin.register(TriageLabel)
class TriageLabelAdmin(admin.ModelAdmin):
    list_display = ("id", "actionable", "source", "channel", "by", "created_at")
    list_filter = ("actionable", "source")
    search_fields = ("text",)
    raw_id_fields = ("message", "by")


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    list_display = ("version", "state", "precision", "recall", "labels_count", "held_out_count", "trained_at")
    exclude = ("weights",)
    readonly_fields = [f.name for f in TriageModel._meta.fields if f.name != "weights"]
