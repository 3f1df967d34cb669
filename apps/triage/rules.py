"""Admin-written triage rules, compiled once per process (services.triage_current).

A rule matches a message when every condition it sets holds: any of its keywords (whole words or
phrases, any case), its regular expression, its channels, its languages, known customer or not,
public or private. The first matching rule by position decides: "noise" (with a category) or
"actionable" (a rule that keeps, say, every message with "refund" in the queue).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PATTERN_MAX_CHARS = 300


class RuleError(ValueError):
    """A rule that cannot be compiled (a bad regular expression)."""


def keywords_regex(keywords: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({k.strip().casefold() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def pattern_regex(pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    if len(pattern) > PATTERN_MAX_CHARS:
        raise RuleError(f"the pattern is longer than {PATTERN_MAX_CHARS} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise RuleError(f"the pattern is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class Facts:
    """What rules may look at besides the text."""

    channel: str
    language: str
    known_customer: bool
    public: bool


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    action: str  # "noise" | "actionable"
    category: str
    keywords: re.Pattern[str] | None
    pattern: re.Pattern[str] | None
    channels: frozenset[str]
    languages: frozenset[str]
    known_customer: bool | None
    visibility: str  # "" (any), "public", "private"

    def match(self, text: str, folded: str, facts: Facts) -> str | None:
        """What matched, in words (for the reason), or None."""
        found: list[str] = []
        if self.channels and facts.channel not in self.channels:
            return None
        if self.languages and facts.language not in self.languages:
            return None
        if self.known_customer is not None and facts.known_customer != self.known_customer:
            return None
        if self.visibility == "public" and not facts.public:
            return None
        if self.visibility == "private" and facts.public:
            return None
        if self.keywords is not None:
            hit = self.keywords.search(folded)
            if hit is None:
                return None
            found.append(f"“{hit.group(0)}”")
        if self.pattern is not None:
            hit = self.pattern.search(text)
            if hit is None:
                return None
            found.append(f"“{hit.group(0)[:40]}”")
        return ", ".join(found)


class RuleSet:
    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = rules
        self.needs_language = any(r.languages for r in rules)

    @classmethod
    def from_dicts(cls, rows: Iterable[Mapping[str, Any]]) -> RuleSet:
        return cls([compile_rule(row) for row in rows])

    def first_match(self, text: str, facts: Facts) -> tuple[CompiledRule, str] | None:
        folded = text.casefold()
        for rule in self.rules:
            matched = rule.match(text, folded, facts)
            if matched is not None:
                return rule, matched
        return None


def compile_rule(row: Mapping[str, Any]) -> CompiledRule:
    known = row.get("known_customer")
    return CompiledRule(
        id=int(row.get("id") or 0),
        name=str(row.get("name") or ""),
        action=str(row.get("action") or "noise"),
        category=str(row.get("category") or ""),
        keywords=keywords_regex(row.get("keywords") or []),
        pattern=pattern_regex(str(row.get("pattern") or "")),
        channels=frozenset(row.get("channels") or []),
        languages=frozenset(row.get("languages") or []),
        known_customer=None if known is None else bool(known),
        visibility=str(row.get("visibility") or ""),
    )
