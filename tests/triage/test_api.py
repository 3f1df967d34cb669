"""The triage API: rules (administrators), the verdict toggle (any agent who sees the
conversation), the model's status, retraining (administrators)."""

from __future__ import annotations

import pytest

from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from apps.triage.models import TriageLabel, TriageRule
from apps.triage.services import labels_import
from tests.conftest import twilio_params
from tests.factories import InboxFactory
from tests.triage.conftest import corpus, online

pytestmark = pytest.mark.django_db(transaction=True)

RULE = {"name": "Out of office", "keywords": ["out of office", "on vacation"], "category": "automated"}


def test_an_agent_reads_rules_but_only_an_administrator_changes_them(api, admin_api):
    assert api.post("/api/v1/triage/rules", RULE, format="json").json()["error"]["code"] == "admin_required"
    created = admin_api.post("/api/v1/triage/rules", RULE, format="json")
    assert created.status_code == 201
    rule = created.json()
    assert (rule["name"], rule["action"], rule["keywords"], rule["position"]) == (
        "Out of office",
        "noise",
        RULE["keywords"],
        1,
    )

    assert [r["id"] for r in api.get("/api/v1/triage/rules").json()["results"]] == [rule["id"]]
    url = f"/api/v1/triage/rules/{rule['id']}"
    assert api.patch(url, {"enabled": False}, format="json").status_code == 403
    assert api.delete(url).status_code == 403
    assert TriageRule.objects.get().enabled is True

    assert admin_api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    assert admin_api.delete(url).status_code == 204
    assert not TriageRule.objects.exists()


def test_a_bad_pattern_is_refused_with_its_reason(admin_api):
    response = admin_api.post("/api/v1/triage/rules", {"name": "x", "pattern": "(oops"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_pattern"
    assert not TriageRule.objects.exists()


def test_marking_not_actionable_moves_the_conversation_to_noise_and_labels_the_message(api, agent, texts):
    online(agent)
    conversation = texts("lol ok")
    assert conversation.assignee_id == agent.pk
    message = Message.objects.get(conversation=conversation)
    since = Event.objects.order_by("-id").first().pk

    response = api.post(f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": False}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["conversation"]["noise"] is True
    assert body["conversation"]["triage_reason"] == "Marked not actionable by Ana"
    assert body["message"]["meta"]["triage"]["source"] == "agent"
    conversation.refresh_from_db()
    assert (conversation.noise, conversation.assignee_id, conversation.waiting_since) == (True, None, None)
    label = TriageLabel.objects.get()
    assert (label.message_id, label.actionable, label.by_id, label.text) == (message.pk, False, agent.pk, "lol ok")
    events = list(Event.objects.filter(pk__gt=since).order_by("id").values_list("type", "data"))
    assert [t for t, _ in events] == ["conversation.updated", "message.updated", "message.created"]
    assert events[0][1]["changes"] == ["triage", "assignee"]
    assert events[2][1]["body"] == "Ana marked this not actionable (noise)"
    assert api.get("/api/v1/unread").json()["noise"] == 1


def test_marking_actionable_puts_it_back_in_the_queue_and_the_second_click_replaces_the_label(
    api, agent, texts, thanks_rule
):
    conversation = texts("thanks a lot")
    assert conversation.noise
    online(agent)

    response = api.post(f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": True}, format="json")

    assert response.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.noise, conversation.assignee_id) == (False, agent.pk)
    assert conversation.waiting_since == Message.objects.get(conversation=conversation, kind="message").created_at
    assert list(TriageLabel.objects.values_list("actionable", flat=True)) == [True]
    api.post(f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": False}, format="json")
    assert list(TriageLabel.objects.values_list("actionable", flat=True)) == [False]  # one label a message


def test_the_toggle_names_a_customer_message_of_the_conversation_only(api, texts):
    conversation = texts("hello")
    other = texts("hi", sender="+14155550009")
    wrong = Message.objects.get(conversation=other)

    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": False, "message": wrong.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_message"
    assert not TriageLabel.objects.exists()
    assert Conversation.objects.get(pk=conversation.pk).noise is False


def test_an_agent_cannot_triage_a_conversation_of_an_inbox_they_are_not_in(api, post_twilio):
    elsewhere = InboxFactory(name="Other", address="+15005550099")
    post_twilio(**twilio_params(To=elsewhere.address, Body="hello"))
    conversation = Conversation.objects.get(inbox=elsewhere)

    assert (
        api.post(f"/api/v1/conversations/{conversation.pk}/triage", {"actionable": False}, format="json").status_code
        == 404
    )
    assert not TriageLabel.objects.exists()


def test_model_status_and_retraining(api, admin_api):
    status = api.get("/api/v1/triage/model").json()
    assert status["active"] is None
    assert status["labels"]["total"] == 0
    labels_import(corpus())

    assert api.post("/api/v1/triage/model/retrain").status_code == 403
    trained = admin_api.post("/api/v1/triage/model/retrain").json()

    assert (trained["outcome"], trained["version"]) == ("rolled_out", 1)
    status = api.get("/api/v1/triage/model").json()
    assert status["active"]["version"] == 1
    assert status["active"]["recall"] >= 0.9
    assert status["labels"]["total"] == len(corpus())
    assert status["labels"]["since_last_training"] == 0
    assert status["last_result"] == trained["detail"]
    assert [m["version"] for m in status["history"]] == [1]


def test_assigning_a_noise_conversation_takes_it_out_of_noise(api, agent, texts, thanks_rule):
    conversation = texts("thanks!")
    assert conversation.noise

    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": agent.pk}, format="json")

    assert response.status_code == 200
    assert (response.json()["noise"], response.json()["triage_reason"]) == (False, "Assigned by Ana")
    assert [c["id"] for c in api.get("/api/v1/conversations", {"view": "mine"}).json()["results"]] == [conversation.pk]
    assert Event.objects.filter(type="conversation.updated").last().data["changes"] == ["assignee", "triage"]
    assert not TriageLabel.objects.exists()  # taking it on is not a verdict on the message
