"""Any change to routing's tables drops the cached configuration (team names follow within a minute)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.dispatch.config import config_changed
from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, TeamRouting


def _changed(sender: Any, **kwargs: Any) -> None:
    config_changed()


for _model in (RoutingRule, Skill, AgentSkill, InboxRouting, TeamRouting):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"routing-config-save-{_model.__name__}")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"routing-config-delete-{_model.__name__}")
m2m_changed.connect(_changed, sender=RoutingRule.skills.through, dispatch_uid="routing-config-rule-skills")
