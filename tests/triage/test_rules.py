"""Admin-written triage rules: conditions, order, and what a match does to a message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.contacts.models import Contact, Identity
from apps.core.errors import InvalidInput
from apps.triage.demo import demo_triage_rules
from apps.triage.models import TriageRule
from apps.triage.rules import Facts, RuleSet
from apps.triage.services import (
    message_triage,
    rule_create,
    rule_delete,
    rule_update,
    rules_changed,
    triage_current,
)

pytestmark = pytest.mark.django_db


def verdict(
    text: str, *, channel: str = "phone", meta: dict | None = None, known: bool = False, automatic: bool = False
):
    now = timezone.now()
    identity = Identity(
        contact=Contact(), kind=channel, address="x", created_at=now - dt.timedelta(days=30) if known else now
    )
    return message_triage(text=text, channel=channel, meta=meta or {}, identity=identity, automatic=automatic, now=now)


def test_a_keyword_rule_makes_a_matching_message_noise_with_its_reason(thanks_rule):
    result = verdict("Thanks, that fixed it")

    assert result.noise
    assert result.category == "praise"
    assert result.source == "rule"
    assert result.rule == thanks_rule.pk
    assert result.reason == "Rule “Thanks only” matched “thanks”"


def test_keywords_match_whole_words_only(thanks_rule):
    assert verdict("thanksgiving order 12 never arrived").actionable
    assert verdict("THANK   YOU!").noise


def test_without_rules_or_model_every_message_is_actionable():
    result = verdict("lol")
    assert result.actionable
    assert result.reason == "No rule matched (no model rolled out yet)"


def test_an_automatic_message_is_noise_when_no_rule_keeps_it():
    result = verdict("I am away", channel="email", automatic=True)
    assert (result.noise, result.category, result.source) == (True, "automated", "automatic")


def test_the_first_matching_rule_by_position_decides(thanks_rule):
    keep = rule_create(by=None, name="Refunds stay", action="actionable", pattern=r"refund|money back", position=0)

    result = verdict("Thanks, but I want a refund")

    assert result.actionable
    assert result.rule == keep.pk


def test_channel_language_known_customer_and_visibility_conditions():
    rule_create(by=None, name="German chatter on Telegram", channels=["telegram"], languages=["de"], keywords=["danke"])
    rule_create(
        by=None, name="New people's public mentions", known_customer=False, visibility="public", pattern="^@acme"
    )

    assert verdict("Danke, alles klar mit der Lieferung", channel="telegram").noise
    assert verdict("Danke, alles klar mit der Lieferung", channel="phone").actionable  # other channel
    assert verdict("Thanks, all is fine with my delivery", channel="telegram").actionable  # English
    assert verdict("@acme hello", meta={"visibility": "public"}).noise
    assert verdict("@acme hello", meta={"visibility": "direct"}).actionable  # private
    assert verdict("@acme hello", meta={"visibility": "public"}, known=True).actionable  # a known customer
    assert verdict("@acme hello", meta={"visibility": "public", "known_customer": True}).actionable  # gateway says


def test_disabled_rules_and_deleted_rules_no_longer_match(thanks_rule):
    rule_update(rule_id=thanks_rule.pk, enabled=False)
    assert verdict("thanks").actionable
    rule_update(rule_id=thanks_rule.pk, enabled=True)
    assert verdict("thanks").noise
    rule_delete(rule_id=thanks_rule.pk)
    assert verdict("thanks").actionable
    assert triage_current().rules.rules == []


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "bad", "pattern": "(unclosed"},
        {"name": "", "keywords": ["x"]},
        {"name": "no condition"},
        {"name": "long", "pattern": "a" * 301},
    ],
)
def test_a_rule_that_cannot_work_is_refused(fields):
    with pytest.raises(InvalidInput):
        rule_create(by=None, **fields)


def test_rules_are_pure_computation_over_the_facts():
    rules = RuleSet.from_dicts([{"id": 7, "name": "Spam", "category": "spam", "pattern": r"bit\.ly/"}])
    facts = Facts(channel="phone", language="", known_customer=False, public=False)
    found = rules.first_match("Earn $$$ at bit.ly/x", facts)
    assert found is not None and found[0].id == 7 and found[1] == "“bit.ly/”"


def test_the_demo_rules_catch_out_of_office_and_spam_once():
    assert demo_triage_rules() == 2
    assert demo_triage_rules() == 0  # seed_demo again adds nothing

    assert verdict("Automatic reply: I am out of office until Monday").category == "automated"
    assert verdict("Congratulations!! Claim your prize at our site").category == "spam"
    assert verdict("I never got the prize I ordered").actionable


def test_a_rule_broken_around_the_services_is_skipped_not_fatal(thanks_rule):
    TriageRule.objects.create(name="Broken", pattern="(unclosed", position=0)  # a database edit
    rules_changed()

    assert [r.name for r in triage_current().rules.rules] == ["Thanks only"]
    assert verdict("thanks").noise
