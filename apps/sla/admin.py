from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.sla.models import BusinessCalendar, EscalationRule, Holiday, SlaBreach, SlaPolicy
from apps.sla.services import sla_retarget_request


class RetargetOnSave(admin.ModelAdmin):
    """Open clocks follow a changed policy or calendar (the next sweep; as the API's saves do)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        sla_retarget_request()


class EscalationInline(admin.TabularInline):
    model = EscalationRule
    extra = 0


@admin.register(SlaPolicy)
class SlaPolicyAdmin(RetargetOnSave):
    list_display = ("name", "inbox", "team", "priority", "first_response_minutes", "resolution_minutes", "active")
    inlines = [EscalationInline]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(RetargetOnSave):
    list_display = ("name", "tz", "team")


@admin.register(Holiday)
class HolidayAdmin(RetargetOnSave):
    list_display = ("date", "name", "calendar")


@admin.register(SlaBreach)
class SlaBreachAdmin(admin.ModelAdmin):
    list_display = ("conversation", "target", "cycle", "due_at", "breached_at", "assignee")
    list_filter = ("target",)
    readonly_fields = [f.name for f in SlaBreach._meta.fields]
