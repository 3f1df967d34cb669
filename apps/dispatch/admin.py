from django.contrib import admin

from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, TeamRouting


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "enabled", "team", "priority", "customer"]
    list_editable = ["position", "enabled"]
    ordering = ["position", "id"]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]


@admin.register(AgentSkill)
class AgentSkillAdmin(admin.ModelAdmin):
    list_display = ["agent", "skill"]


@admin.register(InboxRouting)
class InboxRoutingAdmin(admin.ModelAdmin):
    list_display = ["inbox", "strategy", "queue_reply"]


@admin.register(TeamRouting)
class TeamRoutingAdmin(admin.ModelAdmin):
    list_display = ["team", "strategy"]
