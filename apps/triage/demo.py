"""The demo's triage rules (seed_demo): two a desk would plausibly start with."""

from __future__ import annotations

from typing import Any

from apps.triage.models import TriageRule
from apps.triage.services import rule_create

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Out-of-office replies",
        "keywords": ["out of office", "automatic reply", "auto-reply", "abwesenheitsnotiz", "absent du bureau"],
        "category": TriageRule.Category.AUTOMATED,
    },
    {
        "name": "Prize and money spam",
        "pattern": r"claim your (prize|reward)|earn \$?\d+ (a|per) (day|week)|guaranteed returns",
        "category": TriageRule.Category.SPAM,
    },
]


def demo_triage_rules() -> int:
    """Adds the demo rules a desk does not have yet (by name); returns how many were added."""
    existing = set(TriageRule.objects.values_list("name", flat=True))
    added = 0
    for fields in DEMO_RULES:
        if fields["name"] not in existing:
            rule_create(by=None, **fields)
            added += 1
    return added
