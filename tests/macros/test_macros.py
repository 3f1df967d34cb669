"""Macros: applied in one step from the API, recorded in the timeline, idempotent, admin-managed."""

from __future__ import annotations

import pytest

from apps.bus.models import Event, OutboxEntry
from apps.conversations.models import Conversation, Message
from apps.macros.models import Macro, MacroApplication
from tests.conftest import twilio_params
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(post_twilio, agent) -> Conversation:
    assert post_twilio(**twilio_params(From="+14155552671", Body="Refund please")).status_code == 200
    conversation = Conversation.objects.get()
    conversation.labels.create(name="new")
    return conversation


@pytest.fixture
def refund(db) -> Macro:
    return Macro.objects.create(
        name="Refund issued",
        add_labels=["refund", "Billing "],
        remove_labels=["new"],
        team=TeamFactory(name="Billing"),
        priority=2,
        status="resolved",
        reply="Hi {contact}, your refund is on its way. — {agent}",
    )


def test_applying_a_macro_runs_every_action_in_one_step(api, agent, conversation, refund):
    conversation.contact.name = "Zoe"
    conversation.contact.save()
    start = Event.objects.order_by("-id").values_list("id", flat=True)[0]

    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/macros", {"macro": refund.pk, "client_id": "m1"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["priority"], body["labels"]) == ("resolved", 2, ["billing", "refund"])
    conversation.refresh_from_db()
    assert conversation.team_id == refund.team_id
    reply = Message.objects.get(kind="message", direction="out")
    assert reply.body == "Hi Zoe, your refund is on its way. — Ana"
    assert reply.sender_id == agent.pk
    assert OutboxEntry.objects.filter(message_id=reply.pk).count() == 1
    timeline = list(
        Message.objects.filter(conversation=conversation, seq__gt=1).order_by("seq").values_list("kind", "body")
    )
    assert timeline[0] == ("activity", "Ana applied the macro “Refund issued”")
    assert timeline[1] == ("message", reply.body)  # the reply goes before the status change
    assert ("activity", "Ana resolved this") in timeline
    assert Event.objects.filter(id__gt=start, type="conversation.updated").exists()


def test_repeating_the_same_client_id_applies_nothing_more(api, conversation, refund):
    url = f"/api/v1/conversations/{conversation.pk}/macros"
    assert api.post(url, {"macro": refund.pk, "client_id": "m1"}, format="json").status_code == 201
    count = Message.objects.count()
    again = api.post(url, {"macro": refund.pk, "client_id": "m1"}, format="json")
    assert again.status_code == 200
    assert Message.objects.count() == count
    assert MacroApplication.objects.count() == 1


def test_a_macro_that_fails_changes_nothing(api, conversation):
    bad = Macro.objects.create(name="Snooze", status="snoozed", snooze_minutes=None, reply="Later!")
    before = Message.objects.count()
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/macros", {"macro": bad.pk, "client_id": "m2"}, format="json"
    )
    assert response.status_code == 201  # snoozed without minutes: an hour by default
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    assert Message.objects.count() == before + 3  # applied, reply, snoozed

    forbidden = Macro.objects.create(name="To nobody", reply="x" * 100_000)
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/macros", {"macro": forbidden.pk, "client_id": "m3"}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_long"
    assert Message.objects.count() == before + 3  # nothing of it stayed (not even the activity)
    assert not MacroApplication.objects.filter(client_id="m3").exists()


def test_only_admins_manage_macros_and_everyone_lists_them(api, agent, refund):
    listed = api.get("/api/v1/macros").json()["results"]
    assert [m["name"] for m in listed] == ["Refund issued"]
    assert listed[0]["actions"] == [
        "send a reply",
        "add refund, Billing ",
        "remove new",
        "move to Billing",
        "priority Medium",
        "resolved",
    ]
    assert api.post("/api/v1/macros", {"name": "X", "status": "open"}, format="json").status_code == 403
    agent.role = "admin"
    agent.save()
    created = api.post("/api/v1/macros", {"name": "Close", "status": "resolved"}, format="json")
    assert created.status_code == 201
    assert api.patch(f"/api/v1/macros/{created.json()['id']}", {"priority": 3}, format="json").json()["priority"] == 3
    assert api.delete(f"/api/v1/macros/{created.json()['id']}").status_code == 204
    assert list(Macro.objects.values_list("name", flat=True)) == ["Refund issued"]
