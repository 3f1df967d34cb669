"""Managing routing (administrators only): rules, skills, agents' skills, strategies and the
queue reply. Every change drops the cached configuration (apps.dispatch.signals)."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from apps.accounts.models import Agent, Inbox, Team
from apps.contacts.models import Identity
from apps.conversations.models import Conversation
from apps.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from apps.dispatch.config import SMS_ALIASES
from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, Strategy, TeamRouting

MAX_KEYWORDS = 200
MAX_RULES = 500
CHANNELS = sorted({*Identity.Kind.values, *SMS_ALIASES} - {Identity.Kind.USER_ID, Identity.Kind.PHONE})
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
SKILL_RE = re.compile(r"^[\w:.+-]{1,64}$")

RULE_FIELDS = (
    "name",
    "position",
    "enabled",
    "keywords",
    "pattern",
    "channels",
    "languages",
    "customer",
    "labels",
    "inboxes",
    "team",
    "priority",
    "skills",
)


def require_admin(by: Any) -> None:
    if by is None or getattr(by, "role", None) != Agent.Role.ADMIN:
        raise PermissionDenied("only an administrator may change routing", code="admin_only")


def _strings(value: Any, name: str, *, limit: int = MAX_KEYWORDS, length: int = 100) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InvalidInput(f"`{name}` must be a list of strings", code="invalid_rule")
    cleaned = [" ".join(x.split()) for x in value]
    cleaned = [x for x in cleaned if x]
    if len(cleaned) > limit or any(len(x) > length for x in cleaned):
        raise InvalidInput(f"`{name}`: at most {limit} entries of {length} characters", code="invalid_rule")
    return list(dict.fromkeys(cleaned))


def _clean_rule(data: dict[str, Any], rule: RoutingRule | None) -> dict[str, Any]:
    unknown = set(data) - set(RULE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}", code="invalid_rule")
    out: dict[str, Any] = {}
    if "name" in data or rule is None:
        name = " ".join(str(data.get("name") or "").split())
        if not name or len(name) > 120:
            raise InvalidInput("a rule needs a name of 1 to 120 characters", code="invalid_rule")
        out["name"] = name
    if "position" in data:
        if not isinstance(data["position"], int) or isinstance(data["position"], bool):
            raise InvalidInput("`position` must be a whole number", code="invalid_rule")
        out["position"] = data["position"]
    if "enabled" in data:
        out["enabled"] = bool(data["enabled"])
    if "keywords" in data:
        out["keywords"] = _strings(data["keywords"], "keywords")
    if "pattern" in data:
        pattern = data["pattern"] or ""
        if not isinstance(pattern, str) or len(pattern) > 500:
            raise InvalidInput("`pattern` must be a regular expression of at most 500 characters", code="invalid_rule")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(f"`pattern` is not a valid regular expression: {exc}", code="invalid_pattern") from None
        out["pattern"] = pattern
    if "channels" in data:
        channels = [c.lower() for c in _strings(data["channels"], "channels", limit=20, length=16)]
        bad = [c for c in channels if c not in CHANNELS]
        if bad:
            raise InvalidInput(f"unknown channel(s) {bad}; one of {CHANNELS}", code="invalid_rule")
        out["channels"] = channels
    if "languages" in data:
        languages = [x.lower() for x in _strings(data["languages"], "languages", limit=50, length=3)]
        if any(not LANGUAGE_RE.match(x) for x in languages):
            raise InvalidInput("`languages` are ISO 639-1 codes such as en, fr", code="invalid_rule")
        out["languages"] = languages
    if "customer" in data:
        if data["customer"] not in RoutingRule.Customer.values:
            raise InvalidInput(f"`customer` is one of {RoutingRule.Customer.values}", code="invalid_rule")
        out["customer"] = data["customer"]
    if "labels" in data:
        out["labels"] = [x.lower() for x in _strings(data["labels"], "labels", limit=50, length=50)]
    if "inboxes" in data:
        ids = data["inboxes"] or []
        if not isinstance(ids, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in ids):
            raise InvalidInput("`inboxes` must be a list of inbox ids", code="invalid_rule")
        if Inbox.objects.filter(pk__in=ids).count() != len(set(ids)):
            raise InvalidInput("`inboxes` names an inbox that does not exist", code="invalid_rule")
        out["inboxes"] = sorted(set(ids))
    if "team" in data:
        team = data["team"]
        if team is not None and (not isinstance(team, int) or not Team.objects.filter(pk=team).exists()):
            raise InvalidInput("`team` must be the id of a team (or null)", code="invalid_rule")
        out["team_id"] = team
    if "priority" in data:
        priority = data["priority"]
        if priority is not None and priority not in Conversation.Priority.values:
            raise InvalidInput("`priority` is 0 (none) to 4 (urgent), or null", code="invalid_rule")
        out["priority"] = priority
    if "skills" in data:
        ids = data["skills"] or []
        if not isinstance(ids, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in ids):
            raise InvalidInput("`skills` must be a list of skill ids", code="invalid_rule")
        if Skill.objects.filter(pk__in=ids).count() != len(set(ids)):
            raise InvalidInput("`skills` names a skill that does not exist", code="invalid_rule")
        out["skills"] = sorted(set(ids))
    return out


@transaction.atomic
def rule_create(*, by: Any, data: dict[str, Any]) -> RoutingRule:
    require_admin(by)
    if RoutingRule.objects.count() >= MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} routing rules", code="too_many_rules")
    values = _clean_rule(data, None)
    skills = values.pop("skills", [])
    if "position" not in values:
        last = RoutingRule.objects.order_by("-position").values_list("position", flat=True).first()
        values["position"] = (last or 0) + 10
    rule = RoutingRule.objects.create(**values)
    if skills:
        rule.skills.set(skills)
    return rule


@transaction.atomic
def rule_update(*, by: Any, rule_id: int, data: dict[str, Any]) -> RoutingRule:
    require_admin(by)
    rule = RoutingRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("no such routing rule")
    values = _clean_rule(data, rule)
    skills = values.pop("skills", None)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save()
    if skills is not None:
        rule.skills.set(skills)
    return rule


@transaction.atomic
def rule_delete(*, by: Any, rule_id: int) -> None:
    require_admin(by)
    deleted, _ = RoutingRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise NotFound("no such routing rule")


@transaction.atomic
def rules_reorder(*, by: Any, rule_ids: list[int]) -> list[RoutingRule]:
    """Positions 10, 20, … in the order given (every rule must be named once)."""
    require_admin(by)
    rules = {r.pk: r for r in RoutingRule.objects.select_for_update()}
    if not isinstance(rule_ids, list) or sorted(rule_ids) != sorted(rules) or len(set(rule_ids)) != len(rule_ids):
        raise InvalidInput("name every rule once, in the new order", code="invalid_order")
    for index, rule_id in enumerate(rule_ids):
        rules[rule_id].position = (index + 1) * 10
    for rule in rules.values():
        rule.save(update_fields=["position", "updated_at"])  # each save drops the cached rules
    return sorted(rules.values(), key=lambda r: (r.position, r.pk))


@transaction.atomic
def skill_create(*, by: Any, name: str, description: str = "") -> Skill:
    require_admin(by)
    name = (name or "").strip().lower()
    if not SKILL_RE.match(name):
        raise InvalidInput(
            "a skill name is 1 to 64 letters, digits or :._+- (e.g. lang:fr, billing)", code="invalid_skill"
        )
    try:
        with transaction.atomic():
            return Skill.objects.create(name=name, description=(description or "")[:200])
    except IntegrityError:
        raise Conflict(f"a skill named {name!r} exists", code="skill_exists") from None


@transaction.atomic
def skill_delete(*, by: Any, skill_id: int) -> None:
    require_admin(by)
    deleted, _ = Skill.objects.filter(pk=skill_id).delete()
    if not deleted:
        raise NotFound("no such skill")


@transaction.atomic
def agent_skills_set(*, by: Any, agent_id: int, skill_ids: list[int]) -> list[int]:
    require_admin(by)
    if not Agent.objects.filter(pk=agent_id).exists():
        raise NotFound("no such agent")
    if not isinstance(skill_ids, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in skill_ids):
        raise InvalidInput("`skills` must be a list of skill ids", code="invalid_skills")
    wanted = set(skill_ids)
    if Skill.objects.filter(pk__in=wanted).count() != len(wanted):
        raise InvalidInput("`skills` names a skill that does not exist", code="invalid_skills")
    current = set(AgentSkill.objects.filter(agent_id=agent_id).values_list("skill_id", flat=True))
    removed = current - wanted
    if removed:
        for link in AgentSkill.objects.filter(agent_id=agent_id, skill_id__in=removed):
            link.delete()
    for skill_id in sorted(wanted - current):
        AgentSkill.objects.create(agent_id=agent_id, skill_id=skill_id)
    return sorted(wanted)


def _strategy(value: Any) -> str:
    if value not in Strategy.values:
        raise InvalidInput(f"`strategy` is one of {Strategy.values}", code="invalid_strategy")
    return str(value)


@transaction.atomic
def inbox_routing_set(*, by: Any, inbox_id: int, data: dict[str, Any]) -> InboxRouting:
    require_admin(by)
    if not Inbox.objects.filter(pk=inbox_id).exists():
        raise NotFound("no such inbox")
    settings, _ = InboxRouting.objects.select_for_update().get_or_create(inbox_id=inbox_id)
    if "strategy" in data:
        settings.strategy = _strategy(data["strategy"])
    if "queue_reply" in data:
        settings.queue_reply = bool(data["queue_reply"])
    if "queue_reply_text" in data:
        text = data["queue_reply_text"] or ""
        if not isinstance(text, str) or len(text) > 500:
            raise InvalidInput("`queue_reply_text` is at most 500 characters", code="invalid_queue_reply")
        settings.queue_reply_text = text.strip()
    settings.save()
    return settings


@transaction.atomic
def team_routing_set(*, by: Any, team_id: int, strategy: Any) -> TeamRouting | None:
    """A team's strategy; null removes it (the inbox's applies)."""
    require_admin(by)
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound("no such team")
    if strategy is None:
        for row in TeamRouting.objects.filter(team_id=team_id):
            row.delete()
        return None
    row, _ = TeamRouting.objects.update_or_create(team_id=team_id, defaults={"strategy": _strategy(strategy)})
    return row
