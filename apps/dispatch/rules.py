"""Routing rules: the first enabled rule (by position) whose conditions all hold decides the
conversation's team, priority and required skills. Evaluated from the cached configuration
(apps.dispatch.config); the only queries are the customer's history or labels, and only when a
rule that asks about them is reached."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from apps.conversations.models import Conversation
from apps.dispatch.config import CompiledRule, routing_config
from apps.dispatch.language import language_detect
from apps.dispatch.models import ConversationRouting, RoutingRule

TEXT_LIMIT = 5000  # characters of a message the rules look at


@dataclass
class RouteInput:
    """What the rules look at. `history` and `labels` are read only if a rule needs them."""

    text: str
    channel: str
    inbox_id: int
    language: str = ""
    verified: bool = False
    history: Callable[[], bool] = lambda: False  # has the customer written before?
    labels: Callable[[], frozenset[str]] = lambda: frozenset()
    _cache: dict[str, object] = field(default_factory=dict)

    def known(self) -> bool:
        if "known" not in self._cache:
            self._cache["known"] = self.history()
        return bool(self._cache["known"])

    def label_names(self) -> frozenset[str]:
        if "labels" not in self._cache:
            self._cache["labels"] = frozenset(x.lower() for x in self.labels())
        value = self._cache["labels"]
        assert isinstance(value, frozenset)
        return value


@dataclass(frozen=True)
class Decision:
    rule: CompiledRule | None
    reason: str
    team_id: int | None
    team_name: str
    priority: int | None
    skill_ids: tuple[int, ...]
    skill_names: tuple[str, ...]
    language: str

    def summary(self) -> str:
        """The timeline's words: "Routed to R&D: matched 'crash' (rule Bugs); priority high"."""
        where = f"Routed to {self.team_name}" if self.team_name else "Routed"
        parts = [f"{where}: {self.reason}"]
        if self.priority is not None:
            parts.append(f"priority {Conversation.Priority(self.priority).label.lower()}")
        if self.skill_names:
            parts.append("needs " + ", ".join(self.skill_names))
        return "; ".join(parts)


def _match(rule: CompiledRule, data: RouteInput) -> str | None:
    """Why the rule matches (words for the timeline), or None. The text comes first in the words."""
    reasons: list[str] = []
    lead: list[str] = []  # what the text matched
    if rule.inboxes and data.inbox_id not in rule.inboxes:
        return None
    if rule.channels:
        if data.channel not in rule.channels:
            return None
        reasons.append(f"channel {'sms' if data.channel == 'phone' else data.channel}")
    if rule.languages:
        if data.language not in rule.languages:
            return None
        reasons.append(f"language {data.language}")
    text = data.text[:TEXT_LIMIT]
    if rule.keywords is not None:
        found = rule.keywords.search(text)
        if found is None:
            return None
        lead.append(f"matched '{found.group(1).lower()}'")
    if rule.pattern is not None:
        found = rule.pattern.search(text)
        if found is None:
            return None
        lead.append(f"matched '{found.group(0)[:40]}'")
    # Last, the conditions that may cost a query (the customer's history, their labels).
    if rule.customer == RoutingRule.Customer.VERIFIED:
        if not data.verified:
            return None
        reasons.append("verified customer")
    elif rule.customer == RoutingRule.Customer.KNOWN:
        if not data.known():
            return None
        reasons.append("known customer")
    elif rule.customer == RoutingRule.Customer.NEW:
        if data.known():
            return None
        reasons.append("new customer")
    if rule.labels:
        common = rule.labels & data.label_names()
        if not common:
            return None
        reasons.append("label " + ", ".join(sorted(common)))
    reasons = lead + reasons
    return ", ".join(reasons) if reasons else "default rule"


def routing_decide(data: RouteInput) -> Decision | None:
    """The first matching rule's decision; None when there are no rules at all. With rules but
    no match, the decision keeps the inbox's team ("no rule matched")."""
    config = routing_config()
    if not config.rules:
        return None
    for rule in config.rules:
        reason = _match(rule, data)
        if reason is not None:
            return Decision(
                rule=rule,
                reason=f"{reason} (rule “{rule.name}”)",
                team_id=rule.team_id,
                team_name=rule.team_name,
                priority=rule.priority,
                skill_ids=rule.skill_ids,
                skill_names=rule.skill_names,
                language=data.language,
            )
    return Decision(
        rule=None,
        reason="no rule matched, the inbox's default",
        team_id=None,
        team_name="",
        priority=None,
        skill_ids=(),
        skill_names=(),
        language=data.language,
    )


def conversation_route(
    *,
    conversation: Conversation,
    text: str,
    channel: str,
    meta: dict,
    verified: bool,
    created: bool,
    now: dt.datetime | None = None,
) -> Decision | None:
    """Route a conversation about to be assigned: set its team and priority in memory (the caller
    saves them with the conversation), remember the rule and the skills it needs, and return the
    decision (None: no rules, nothing changed). Call it with the conversation row locked."""
    contact_id = conversation.contact_id
    conversation_id = conversation.pk

    def history() -> bool:
        return Conversation.objects.filter(contact_id=contact_id).exclude(pk=conversation_id).exists()

    def labels() -> frozenset[str]:
        return frozenset(
            Conversation.labels.through.objects.filter(conversation__contact_id=contact_id)
            .values_list("label__name", flat=True)
            .distinct()
        )

    data = RouteInput(
        text=text or "",
        channel=channel,
        inbox_id=conversation.inbox_id,
        language=language_detect(text or "", meta),
        verified=verified,
        history=history,
        labels=labels,
    )
    decision = routing_decide(data)
    if decision is None:
        return None
    config = routing_config()
    if decision.team_id is not None:
        conversation.team_id = decision.team_id
    elif conversation.team_id is not None and not decision.team_name:
        decision = _with_team(decision, conversation.team_id, config.team_names.get(conversation.team_id, ""))
    if decision.priority is not None:
        conversation.priority = decision.priority
    # The skills an agent needs are kept for assignment (the drain reads them later); the rule and
    # language are in the timeline activity's meta. Nothing to keep: no row (one INSERT less per
    # conversation in a bus batch); a reopened conversation's earlier requirement is dropped.
    if decision.skill_ids:
        values = {
            "rule_id": decision.rule.id if decision.rule else None,
            "skills": list(decision.skill_ids),
            "language": decision.language,
            "routed_at": now or timezone.now(),
        }
        if created:
            ConversationRouting.objects.create(conversation_id=conversation.pk, **values)
        else:
            ConversationRouting.objects.update_or_create(conversation_id=conversation.pk, defaults=values)
    elif not created:
        ConversationRouting.objects.filter(conversation_id=conversation.pk).delete()
    return decision


def _with_team(decision: Decision, team_id: int, team_name: str) -> Decision:
    return Decision(
        rule=decision.rule,
        reason=decision.reason,
        team_id=team_id,
        team_name=team_name,
        priority=decision.priority,
        skill_ids=decision.skill_ids,
        skill_names=decision.skill_names,
        language=decision.language,
    )
