"""One message's triage verdict: admin rules first, then automatic mail, then the learned model.
Pure computation over what services.triage_current loaded (no query here): the receive path
pays CPU only, measured by bench/triage.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.triage.language import language_guess
from apps.triage.learner import Linear
from apps.triage.rules import Facts, RuleSet


class Category:
    ACTIONABLE = "actionable"
    PRAISE = "praise"
    CHATTER = "chatter"
    SPAM = "spam"
    AUTOMATED = "automated"
    OFF_TOPIC = "off_topic"
    OTHER = "other"

    NOISE = (PRAISE, CHATTER, SPAM, AUTOMATED, OFF_TOPIC, OTHER)
    WORDS = {
        ACTIONABLE: "actionable",
        PRAISE: "praise",
        CHATTER: "chatter",
        SPAM: "spam",
        AUTOMATED: "automated",
        OFF_TOPIC: "off-topic",
        OTHER: "not actionable",
    }


class Source:
    RULE = "rule"
    AUTOMATIC = "automatic"
    MODEL = "model"
    DEFAULT = "default"
    AGENT = "agent"


@dataclass(frozen=True)
class Context:
    channel: str
    public: bool
    known_customer: bool
    automatic: bool


@dataclass(frozen=True)
class Verdict:
    actionable: bool
    category: str
    reason: str
    source: str
    rule: int | None = None
    model: int | None = None
    score: float | None = None
    language: str = ""

    @property
    def noise(self) -> bool:
        return not self.actionable

    def data(self) -> dict[str, Any]:
        """As kept in Message.meta["triage"] and shown to agents."""
        data: dict[str, Any] = {
            "verdict": "actionable" if self.actionable else "noise",
            "category": self.category,
            "reason": self.reason,
            "source": self.source,
        }
        if self.rule is not None:
            data["rule"] = self.rule
        if self.model is not None:
            data["model"] = self.model
        if self.score is not None:
            data["score"] = round(self.score, 3)
        if self.language:
            data["language"] = self.language
        return data


class Classifier:
    def __init__(self, *, rules: RuleSet, model: Linear | None, model_version: int | None) -> None:
        self.rules = rules
        self.model = model
        self.model_version = model_version

    def classify(self, text: str, context: Context) -> Verdict:
        language = language_guess(text) if self.rules.needs_language else ""
        facts = Facts(
            channel=context.channel, language=language, known_customer=context.known_customer, public=context.public
        )
        found = self.rules.first_match(text, facts) if self.rules.rules else None
        if found is not None:
            rule, matched = found
            actionable = rule.action == "actionable"
            category = Category.ACTIONABLE if actionable else (rule.category or Category.OTHER)
            reason = f"Rule “{rule.name}”" + (f" matched {matched}" if matched else "")
            return Verdict(actionable, category, reason, Source.RULE, rule=rule.id, language=language)
        if context.automatic:
            return Verdict(
                False,
                Category.AUTOMATED,
                "An automatic message (an out-of-office or bulk mail, by its headers)",
                Source.AUTOMATIC,
                language=language,
            )
        if not text.strip():
            return Verdict(True, Category.ACTIONABLE, "No text to judge (attachments only)", Source.DEFAULT)
        if self.model is None:
            return Verdict(True, Category.ACTIONABLE, "No rule matched (no model rolled out yet)", Source.DEFAULT)
        score = self.model.probability(text)
        if score >= self.model.threshold:
            reason = f"Model v{self.model_version}: {score:.0%} likely actionable"
            return Verdict(True, Category.ACTIONABLE, reason, Source.MODEL, model=self.model_version, score=score)
        telling = self.model.telling_words(text, noise=True)
        reason = f"Model v{self.model_version}: {1 - score:.0%} likely not actionable" + (
            f" ({', '.join(telling)})" if telling else ""
        )
        return Verdict(False, Category.OTHER, reason, Source.MODEL, model=self.model_version, score=score)
