"""Routing's configuration, read once per process and kept until it changes.

The bus routes every new conversation of a batch; reading the rules, strategies and skills from
the database each time would cost queries per message. A snapshot is built once, compiled (the
keyword and pattern regexes), and kept. A change (apps.dispatch.signals) clears this process's
snapshot at once and, after commit, bumps a version in the shared cache; other processes look at
that version at most once a second (a cache read, not a query) and rebuild when it moved.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

from apps.accounts.models import Team
from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, Strategy, TeamRouting

log = logging.getLogger(__name__)

VERSION_KEY = "routing:config-version"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 60.0  # rebuilt at least this often anyway (a renamed team's name in the timeline)
SMS_ALIASES = {"sms": "phone", "mms": "phone"}


def keyword_regex(keywords: list[str]) -> re.Pattern[str] | None:
    """Any of the keywords as a word: "crash" matches "crash", "crashes", "crashed", not "crashpad";
    a trailing "*" makes a prefix ("refund*" matches "refunding", "refundable")."""
    parts = []
    for raw in keywords:
        word = raw.strip().lower()
        if not word:
            continue
        if word.endswith("*"):
            stem = word.rstrip("*").strip()
            if stem:
                parts.append(re.escape(stem) + r"\w*")
        else:
            parts.append(re.escape(word) + r"(?:s|es|ed|d|ing)?")
    if not parts:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def channel_kinds(channels: list[str]) -> frozenset[str]:
    return frozenset(SMS_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in channels if c.strip())


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    keywords: re.Pattern[str] | None
    pattern: re.Pattern[str] | None
    channels: frozenset[str]
    languages: frozenset[str]
    customer: str
    labels: frozenset[str]
    inboxes: frozenset[int]
    team_id: int | None
    team_name: str
    priority: int | None
    skill_ids: tuple[int, ...]
    skill_names: tuple[str, ...]

    @property
    def is_default(self) -> bool:
        return not (
            self.keywords
            or self.pattern
            or self.channels
            or self.languages
            or self.labels
            or self.inboxes
            or self.customer != RoutingRule.Customer.ANY
        )


@dataclass
class RoutingConfig:
    rules: list[CompiledRule] = field(default_factory=list)
    inbox_strategy: dict[int, str] = field(default_factory=dict)
    team_strategy: dict[int, str] = field(default_factory=dict)
    queue_reply: dict[int, str] = field(default_factory=dict)  # inbox id -> text ("" = the default text)
    agent_skills: dict[int, frozenset[int]] = field(default_factory=dict)
    skill_names: dict[int, str] = field(default_factory=dict)
    team_names: dict[int, str] = field(default_factory=dict)

    def strategy(self, inbox_id: int, team_id: int | None) -> str:
        if team_id is not None and team_id in self.team_strategy:
            return self.team_strategy[team_id]
        return self.inbox_strategy.get(inbox_id, Strategy.ROUND_ROBIN)


def config_build() -> RoutingConfig:
    skill_names = dict(Skill.objects.values_list("id", "name"))
    team_names = dict(Team.objects.values_list("id", "name"))
    rules: list[CompiledRule] = []
    for rule in RoutingRule.objects.filter(enabled=True).prefetch_related("skills").order_by("position", "id"):
        try:
            pattern = re.compile(rule.pattern, re.IGNORECASE) if rule.pattern else None
        except re.error:
            log.warning("routing rule %s has an invalid pattern; skipped", rule.pk)
            continue
        skills = sorted(rule.skills.all(), key=lambda s: s.name)
        rules.append(
            CompiledRule(
                id=rule.pk,
                name=rule.name,
                keywords=keyword_regex(list(rule.keywords or [])),
                pattern=pattern,
                channels=channel_kinds(list(rule.channels or [])),
                languages=frozenset(str(x).lower() for x in rule.languages or []),
                customer=rule.customer,
                labels=frozenset(str(x).lower() for x in rule.labels or []),
                inboxes=frozenset(int(x) for x in rule.inboxes or []),
                team_id=rule.team_id,
                team_name=team_names.get(rule.team_id, "") if rule.team_id else "",
                priority=rule.priority,
                skill_ids=tuple(s.pk for s in skills),
                skill_names=tuple(s.name for s in skills),
            )
        )
    agent_skills: dict[int, set[int]] = {}
    for agent_id, skill_id in AgentSkill.objects.values_list("agent_id", "skill_id"):
        agent_skills.setdefault(agent_id, set()).add(skill_id)
    inbox_strategy: dict[int, str] = {}
    queue_reply: dict[int, str] = {}
    for ir in InboxRouting.objects.all():
        inbox_strategy[ir.inbox_id] = ir.strategy
        if ir.queue_reply:
            queue_reply[ir.inbox_id] = ir.queue_reply_text
    return RoutingConfig(
        rules=rules,
        inbox_strategy=inbox_strategy,
        team_strategy=dict(TeamRouting.objects.values_list("team_id", "strategy")),
        queue_reply=queue_reply,
        agent_skills={a: frozenset(s) for a, s in agent_skills.items()},
        skill_names=skill_names,
        team_names=team_names,
    )


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: RoutingConfig | None = None
        self.version: object = None
        self.checked = 0.0
        self.built = 0.0


_cache = _Cache()


def _shared_version() -> object:
    try:
        return cache.get(VERSION_KEY)
    except Exception:  # noqa: BLE001 - the cache is down: rebuild (at most once a second)
        log.warning("routing: the shared cache cannot be read; rebuilding the configuration")
        return uuid.uuid4().hex


def routing_config() -> RoutingConfig:
    """This process's snapshot; rebuilt when a change was made here or elsewhere."""
    now = time.monotonic()
    with _cache.lock:
        config = _cache.config
        if config is not None and now - _cache.checked < CHECK_SECONDS:
            return config
        version = _shared_version()
        _cache.checked = now
        if config is not None and version == _cache.version and now - _cache.built < MAX_AGE_SECONDS:
            return config
    fresh = config_build()
    with _cache.lock:
        _cache.config = fresh
        _cache.version = version
        _cache.built = now
    return fresh


def config_reset() -> None:
    """Forget this process's snapshot (tests: a rolled-back test leaves no signal behind)."""
    with _cache.lock:
        _cache.config = None
        _cache.version = None


def config_changed() -> None:
    """Routing's tables changed: drop this process's snapshot now; tell the others at commit."""
    with _cache.lock:
        _cache.config = None

    def bump() -> None:
        with _cache.lock:
            _cache.config = None
        try:
            cache.set(VERSION_KEY, uuid.uuid4().hex, None)
        except Exception:  # noqa: BLE001
            log.warning("routing: the shared cache cannot be written; other processes see the change within their TTL")

    transaction.on_commit(bump)
