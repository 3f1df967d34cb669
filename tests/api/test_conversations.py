"""PATCH /api/v1/conversations/<id>: each change is a timeline entry and a conversation.updated event."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


def test_resolving_adds_an_activity_and_an_event(api, agent, conversation):
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "resolved"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert Conversation.objects.get().status == "resolved"
    activity = Message.objects.get(kind="activity")
    assert (activity.seq, activity.body, activity.meta) == (2, "Ana resolved this", {"by": agent.pk})
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [(e.type, e.conversation_id) for e in events] == [
        ("conversation.updated", conversation.pk),
        ("message.created", conversation.pk),
    ]
    assert events[0].data["status"] == "resolved"
    assert events[0].data["changes"] == ["status"]
    assert events[1].data["id"] == activity.pk
    assert events[1].data["kind"] == "activity"


def test_assigning_to_another_agent_and_back(api, agent, other_agent, conversation):
    agent.role = "supervisor"  # taking back a colleague's conversation is a supervisor's call
    agent.save(update_fields=["role"])
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": other_agent.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["assignee"] == other_agent.pk
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": agent.pk}, format="json")
    assert response.json()["assignee"] == agent.pk
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": None}, format="json")
    assert response.json()["assignee"] is None

    assert list(Message.objects.filter(kind="activity").order_by("seq").values_list("body", flat=True)) == [
        "Ana assigned this to Ben",
        "Ana took this",
        "Ana unassigned this",
    ]
    updates = Event.objects.filter(id__gt=start, type="conversation.updated").order_by("id")
    assert [(e.data["assignee"], e.data["changes"]) for e in updates] == [
        (other_agent.pk, ["assignee"]),
        (agent.pk, ["assignee"]),
        (None, ["assignee"]),
    ]


def test_an_agent_cannot_take_over_a_colleagues_conversation(api, agent, other_agent, conversation):
    first = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": other_agent.pk}, format="json")
    assert first.status_code == 200
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": agent.pk}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_reassign"
    assert Conversation.objects.get().assignee_id == other_agent.pk
    assert Event.objects.filter(id__gt=start).count() == 0


def test_patch_with_nothing_changed_adds_nothing(api, conversation):
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "open"}, format="json")
    assert response.status_code == 200
    assert Message.objects.filter(kind="activity").count() == 0
    assert Event.objects.filter(id__gt=start).count() == 0


def test_assignee_outside_the_inbox_is_refused(api, conversation):
    outsider = AgentFactory(username="outsider")
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": outsider.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_assignee"
    assert Conversation.objects.get().assignee_id is None


def test_snooze_needs_a_future_time(api, conversation):
    url = f"/api/v1/conversations/{conversation.pk}"
    response = api.patch(url, {"status": "snoozed"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_snooze"
    until = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    response = api.patch(url, {"status": "snoozed", "snoozed_until": until}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "snoozed"


def test_unknown_status_is_400(api, conversation):
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "deleted"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["fields"]) == ["status"]


def test_presence_endpoint(api, agent):
    response = api.put("/api/v1/agents/me/presence", {"status": "online"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"status": "online"}
    agents = api.get("/api/v1/agents").json()["results"]
    assert [(a["id"], a["presence"]) for a in agents] == [(agent.pk, "online")]
