"""Every inbound message gets a verdict; noise is kept and shown, but waits in nobody's queue."""

from __future__ import annotations

import pytest

from apps.accounts.models import Team
from apps.assignment.services import assignment_drain
from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from apps.dispatch.models import RoutingRule
from apps.triage.services import labels_import, triage_current, triage_retrain
from tests.bus.test_webhook_queries import FIRST_MESSAGE_QUERIES, FOLLOW_UP_QUERIES
from tests.conftest import twilio_params
from tests.triage.conftest import NO_RULE_NO_MODEL, corpus, online

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_inbound_message_carries_its_verdict_and_reason(texts):
    conversation = texts("My router is down")

    message = Message.objects.get(conversation=conversation)
    assert message.meta["triage"] == NO_RULE_NO_MODEL
    assert (conversation.noise, conversation.triage_reason) == (False, "No rule matched (no model rolled out yet)")


def test_a_noise_message_opens_a_conversation_that_waits_in_no_queue(api, agent, texts, thanks_rule):
    online(agent)

    conversation = texts("Thanks, you are great")

    assert conversation.noise
    assert conversation.assignee_id is None  # an online agent with room: still not assigned
    assert conversation.waiting_since is None
    assert conversation.triage_reason == "Rule “Thanks only” matched “thanks”"
    assert Message.objects.get(conversation=conversation).meta["triage"]["verdict"] == "noise"
    assert api.get("/api/v1/unread").json() == {"messages": 0, "conversations": 0, "noise": 1}
    for view in ("all", "mine", "unassigned"):
        assert api.get("/api/v1/conversations", {"view": view}).json()["results"] == []
    for sort in ("recent", "waiting"):
        noise = api.get("/api/v1/conversations", {"view": "noise", "sort": sort}).json()["results"]
        assert [c["id"] for c in noise] == [conversation.pk]
        assert noise[0]["noise"] is True
    created = Event.objects.get(type="conversation.created")
    assert created.data["noise"] is True


def test_an_actionable_message_makes_a_noise_conversation_actionable_and_assigns_it(api, agent, texts, thanks_rule):
    texts("thanks!")
    online(agent)

    conversation = texts("Actually my order never arrived")

    assert not conversation.noise
    assert conversation.assignee_id == agent.pk
    assert conversation.waiting_since is not None
    assert Conversation.objects.count() == 1
    updated = Event.objects.filter(type="conversation.updated").last()
    assert updated.data["changes"] == ["triage", "assignee"]
    assert updated.data["noise"] is False
    assert api.get("/api/v1/unread").json() == {"messages": 2, "conversations": 1, "noise": 0}


def test_a_noise_message_in_an_actionable_conversation_leaves_it_where_it_is(agent, texts, thanks_rule):
    online(agent)
    first = texts("My router is down")

    conversation = texts("thanks")

    assert conversation.pk == first.pk
    assert (conversation.noise, conversation.assignee_id) == (False, agent.pk)
    assert Message.objects.filter(conversation=conversation).order_by("seq").last().meta["triage"]["verdict"] == "noise"


def test_the_assignment_queue_skips_noise(agent, texts, thanks_rule):
    noise = texts("thank you", sender="+14155550001")
    waiting = texts("my invoice is wrong", sender="+14155550002")
    online(agent)  # comes online: the waiting queue drains

    assignment_drain()

    assert Conversation.objects.get(pk=waiting.pk).assignee_id == agent.pk
    assert Conversation.objects.get(pk=noise.pk).assignee_id is None


def test_the_learned_model_triages_inbound_messages(texts):
    labels_import(corpus())
    assert triage_retrain().outcome == "rolled_out"

    spam = texts("Congratulations! You won an iPhone, claim your prize at http://win.example", sender="+14155550003")
    problem = texts("my parcel arrived broken, I want a replacement", sender="+14155550004")

    assert spam.noise
    assert spam.triage_reason.startswith("Model v1: ")
    assert not problem.noise
    assert Message.objects.get(conversation=problem).meta["triage"]["model"] == 1


def test_receive_query_budget_is_unchanged_with_rules_and_a_model(
    post_twilio, agent, thanks_rule, django_assert_max_num_queries
):
    """Triage costs no query per message: rules and model are cached per process (reloaded at
    most every TRIAGE_RELOAD_SECONDS: tests/triage/test_model.py counts that)."""
    labels_import(corpus())
    triage_retrain()
    assert triage_current().model is not None  # loaded: the steady state
    with django_assert_max_num_queries(FIRST_MESSAGE_QUERIES):
        assert post_twilio(**twilio_params(Body="my router is down")).status_code == 200
    with django_assert_max_num_queries(FOLLOW_UP_QUERIES):
        assert post_twilio(**twilio_params(Body="still down")).status_code == 200
    assert Message.objects.count() == 2


def test_marking_noise_actionable_routes_it_as_a_new_conversation_would_be(api, agent, texts, thanks_rule):
    """One click takes a conversation out of Noise and into the queue its routing rules choose."""
    rnd = Team.objects.create(name="R&D")
    RoutingRule.objects.create(name="Bugs", keywords=["crash"], team=rnd, priority=Conversation.Priority.HIGH)
    conversation = texts("thanks, but the app crashes")
    assert conversation.noise and conversation.team_id != rnd.pk  # noise is routed nowhere

    assert (
        api.post(f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": True}, format="json").status_code
        == 200
    )

    conversation.refresh_from_db()
    assert not conversation.noise
    assert (conversation.team_id, conversation.priority) == (rnd.pk, Conversation.Priority.HIGH)
    activities = Message.objects.filter(conversation=conversation, kind=Message.Kind.ACTIVITY).values_list(
        "body", flat=True
    )
    assert any(body.startswith("Routed to R&D") for body in activities), list(activities)
    updated = Event.objects.filter(type="conversation.updated").last()
    assert {"triage", "team", "priority"} <= set(updated.data["changes"])
