"""Routing rules: matching, order (first match wins), the default, and the decision recorded in
the timeline of a conversation routed on receipt."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from apps.conversations.models import Conversation, Label, Message
from apps.conversations.services import message_receive
from apps.dispatch.config import keyword_regex, routing_config
from apps.dispatch.language import language_detect
from apps.dispatch.models import ConversationRouting, Skill
from apps.dispatch.rules import RouteInput, routing_decide
from apps.gateways.base import InboundMessage
from tests.routing.conftest import rule

pytestmark = pytest.mark.django_db


def decide(text: str = "", **kwargs):
    data = RouteInput(text=text, channel=kwargs.pop("channel", "phone"), inbox_id=kwargs.pop("inbox_id", 1), **kwargs)
    return routing_decide(data)


@pytest.mark.parametrize(
    ("keywords", "text", "hit"),
    [
        (["crash"], "The app crashes when I log in", "crashes"),
        (["crash"], "It crashed again", "crashed"),
        (["crash"], "CRASH!", "CRASH"),
        (["crash"], "I use crashpad", None),
        (["bug"], "please debug this", None),
        (["refund*"], "is it refundable?", "refundable"),
        (["log in", "password"], "I cannot log in", "log in"),
        ([], "anything", None),
    ],
)
def test_keywords_match_words_not_pieces_of_words(keywords, text, hit):
    regex = keyword_regex(keywords)
    found = regex.search(text) if regex else None
    assert (found.group(1) if found else None) == hit


def test_no_rules_means_no_decision():
    assert decide("The app crashes") is None


def test_first_matching_rule_wins_in_position_order(rnd, sales):
    rule("Sales", position=20, keywords=["price", "crash"], team=sales)
    rule("Bugs", position=10, keywords=["crash"], team=rnd, priority=Conversation.Priority.HIGH)
    decision = decide("The app crashes on start")
    assert decision.team_id == rnd.pk
    assert decision.priority == Conversation.Priority.HIGH
    assert decision.summary() == "Routed to R&D: matched 'crashes' (rule “Bugs”); priority high"
    assert decide("What is the price?").team_id == sales.pk


def test_default_rule_and_no_match(rnd, sales):
    rule("Bugs", position=10, keywords=["crash"], team=rnd)
    no_match = decide("Hello there")
    assert no_match.rule is None and no_match.team_id is None
    assert "no rule matched" in no_match.reason
    rule("Everything else", position=99, team=sales)
    fallback = decide("Hello there")
    assert fallback.team_id == sales.pk and fallback.reason.startswith("default rule")


def test_disabled_rules_are_skipped(rnd):
    rule("Bugs", keywords=["crash"], team=rnd, enabled=False)
    assert decide("crash") is None  # no enabled rule at all


def test_pattern_channel_language_and_inbox_conditions(rnd, sales):
    rule("Order numbers", position=1, pattern=r"\border\s*#?\d{5,}", team=sales)
    rule("Telegram French", position=2, channels=["telegram"], languages=["fr"], team=rnd)
    rule("SMS only", position=3, channels=["sms"], inboxes=[42], team=rnd)
    assert decide("Where is order #123456?").reason.startswith("matched 'order #123456'")
    assert decide("x", channel="telegram", language="fr").team_id == rnd.pk
    assert decide("x", channel="telegram", language="en").rule is None
    assert decide("x", channel="phone", inbox_id=42).rule.name == "SMS only"  # "sms" means SMS numbers
    assert decide("x", channel="phone", inbox_id=7).rule is None


def test_customer_conditions_ask_history_only_when_needed(rnd, sales):
    asked = []

    def history():
        asked.append(1)
        return True

    rule("Verified", position=1, customer="verified", team=rnd)
    rule("Known", position=2, customer="known", team=sales)
    assert decide("hi", verified=True, history=history).team_id == rnd.pk
    assert asked == []  # the first rule matched: the history was never read
    assert decide("hi", verified=False, history=history).team_id == sales.pk
    assert asked == [1]
    assert decide("hi", verified=False, history=lambda: False).rule is None


def test_label_condition(rnd):
    rule("VIP", labels=["vip"], team=rnd, priority=4)
    assert decide("hi", labels=lambda: frozenset({"VIP"})).team_id == rnd.pk
    assert decide("hi", labels=lambda: frozenset({"other"})).rule is None


@pytest.mark.parametrize(
    ("text", "meta", "lang"),
    [
        ("Bonjour, mon application ne marche pas avec votre site", {}, "fr"),
        ("Hallo, ich kann mich nicht anmelden, bitte helfen Sie mir", {}, "de"),
        ("Hello, I cannot log in to my account, please help", {}, "en"),
        ("ok", {}, ""),
        ("whatever", {"language_code": "pt-BR"}, "pt"),
    ],
)
def test_language_detection(text, meta, lang):
    assert language_detect(text, meta) == lang


def test_config_is_cached_and_rebuilt_after_a_change(rnd, django_assert_num_queries):
    rule("Bugs", keywords=["crash"], team=rnd)
    first = routing_config()
    with django_assert_num_queries(0):
        assert routing_config() is first
        assert decide("crash").team_id == rnd.pk
    rule("Sales", position=-1, keywords=["crash"])  # the change drops the snapshot
    assert routing_config() is not first
    assert decide("crash").rule.name == "Sales"


@pytest.mark.django_db(transaction=True)
def test_a_new_conversation_is_routed_before_assignment_and_the_timeline_says_why(
    write, rnd, agent, other_agent, sms_inbox
):
    rnd.members.add(other_agent)
    skill = Skill.objects.create(name="mobile")
    bugs = rule("Bugs", keywords=["crash"], team=rnd, priority=Conversation.Priority.HIGH, skills=[skill])
    conversation = write("The app crashes every time I open it")
    conversation.refresh_from_db()
    assert conversation.team_id == rnd.pk
    assert conversation.priority == Conversation.Priority.HIGH
    routing = ConversationRouting.objects.get(conversation=conversation)
    assert routing.rule_id == bugs.pk and routing.skills == [skill.pk] and routing.language == "en"
    timeline = list(conversation.messages.order_by("seq").values_list("kind", "body"))
    assert timeline[0] == (Message.Kind.MESSAGE, "The app crashes every time I open it")
    assert timeline[1] == (
        Message.Kind.ACTIVITY,
        "Routed to R&D: matched 'crashes' (rule “Bugs”); priority high; needs mobile",
    )
    # The next message of the same conversation is not routed again.
    write("still crashing", sender=conversation.contact.identities.get().address)
    assert conversation.messages.filter(kind=Message.Kind.ACTIVITY).count() == 1


@pytest.mark.django_db(transaction=True)
def test_no_rules_leave_the_receive_path_as_it_was(write, sms_inbox, team):
    conversation = write("The app crashes")
    conversation.refresh_from_db()
    assert conversation.team_id == team.pk
    assert not conversation.messages.filter(kind=Message.Kind.ACTIVITY).exists()
    assert not ConversationRouting.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_label_rules_read_the_customers_earlier_conversations(write, rnd, sms_inbox):
    rule("VIP", labels=["vip"], team=rnd, priority=Conversation.Priority.URGENT)
    first = write("hello")
    assert first.team_id != rnd.pk
    first.labels.add(Label.objects.create(name="vip"))
    first.status = Conversation.Status.RESOLVED
    first.save(update_fields=["status"])
    again = write("hello again", sender=first.contact.identities.get().address)
    assert again.pk != first.pk
    again.refresh_from_db()
    assert again.team_id == rnd.pk and again.priority == Conversation.Priority.URGENT


def test_a_reopened_conversation_is_routed_again_and_drops_old_skills(rnd, sales, sms_inbox):
    """Email threads a reply into its (resolved) conversation, which reopens: routed afresh."""
    skill = Skill.objects.create(name="mobile")
    rule("Bugs", position=1, keywords=["crash"], team=rnd, skills=[skill])
    rule("Default", position=2, team=sales)

    def receive(text: str, n: int, conversation=None):
        inbound = InboundMessage(
            channel="phone",
            sender="+14155550100",
            sender_display="+14155550100",
            recipient=sms_inbox.address,
            provider_message_id=f"SMreopen{n}",
            text=text,
            received_at=timezone.now(),
        )
        with transaction.atomic():
            message, _ = message_receive(inbox=sms_inbox, inbound=inbound, conversation=conversation)
        return Conversation.objects.get(pk=message.conversation_id)

    first = receive("it crashed", 1)
    assert first.team_id == rnd.pk
    assert ConversationRouting.objects.get(conversation=first).skills == [skill.pk]
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.RESOLVED)
    again = receive("thanks, all good now", 2, conversation=first)
    assert again.pk == first.pk and again.status == Conversation.Status.OPEN
    assert again.team_id == sales.pk
    assert not ConversationRouting.objects.filter(conversation=again).exists()
    bodies = list(again.messages.filter(kind=Message.Kind.ACTIVITY).order_by("seq").values_list("body", flat=True))
    assert bodies[0].startswith("Routed to R&D") and bodies[-1].startswith("Routed to Sales: default rule")
