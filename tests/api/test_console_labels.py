"""Labels on conversations: PATCH labels, the timeline entry, the event, GET /labels."""

from __future__ import annotations

import pytest

from apps.bus.models import Event
from apps.conversations.models import Conversation, Label, Message

pytestmark = pytest.mark.django_db(transaction=True)


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


def test_adding_a_label_creates_it_records_it_and_tells_the_consoles(api, agent, conversation):
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"labels": ["VIP "]}, format="json")

    assert response.status_code == 200
    assert response.json()["labels"] == ["vip"]
    label = Label.objects.get()
    assert (label.name, label.color.startswith("#"), len(label.color)) == ("vip", True, 7)
    assert list(Conversation.objects.get().labels.values_list("name", flat=True)) == ["vip"]
    activity = Message.objects.get(kind="activity")
    assert (activity.body, activity.meta) == ("Ana added label vip", {"by": agent.pk})
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [(e.type, e.conversation_id) for e in events] == [
        ("conversation.updated", conversation.pk),
        ("message.created", conversation.pk),
    ]
    assert events[0].data["changes"] == ["labels"]
    assert events[0].data["labels"] == ["vip"]
    assert events[1].data["body"] == "Ana added label vip"


def test_replacing_labels_adds_and_removes_and_reuses_existing_ones(api, agent, conversation):
    url = f"/api/v1/conversations/{conversation.pk}"
    api.patch(url, {"labels": ["vip", "billing"]}, format="json")
    billing = Label.objects.get(name="billing")
    response = api.patch(url, {"labels": ["billing", "urgent"]}, format="json")

    assert response.json()["labels"] == ["billing", "urgent"]
    assert Label.objects.get(name="billing").pk == billing.pk
    assert sorted(Label.objects.values_list("name", flat=True)) == ["billing", "urgent", "vip"]
    assert list(Message.objects.filter(kind="activity").order_by("seq").values_list("body", flat=True)) == [
        "Ana added labels billing, vip",
        "Ana added label urgent",
        "Ana removed label vip",
    ]


def test_same_labels_again_changes_nothing(api, conversation):
    url = f"/api/v1/conversations/{conversation.pk}"
    api.patch(url, {"labels": ["vip"]}, format="json")
    start = newest_event_id()
    response = api.patch(url, {"labels": ["Vip"]}, format="json")
    assert response.status_code == 200
    assert Event.objects.filter(id__gt=start).count() == 0
    assert Message.objects.filter(kind="activity").count() == 1


def test_an_empty_label_name_is_refused(api, conversation):
    start = newest_event_id()
    response = api.patch(f"/api/v1/conversations/{conversation.pk}", {"labels": ["  "]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_labels"
    assert not Label.objects.exists()
    assert Event.objects.filter(id__gt=start).count() == 0


def test_labels_list(api, conversation):
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"labels": ["vip", "billing"]}, format="json")
    body = api.get("/api/v1/labels").json()
    assert [(label["name"]) for label in body["results"]] == ["billing", "vip"]
    assert set(body["results"][0]) == {"id", "name", "color"}
