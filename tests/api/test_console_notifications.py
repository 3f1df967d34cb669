"""notification.created: @mentions in notes, and conversations assigned to an agent."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.assignment.services import presence_set
from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from tests.conftest import twilio_params
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


def notifications(after: int) -> list[tuple[int, dict]]:
    rows = Event.objects.filter(id__gt=after, type="notification.created").order_by("id")
    return [(e.agent_id, e.data) for e in rows]


def note(api, conversation, body: str, client_id: str = "n1"):
    return api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"body": body, "client_id": client_id, "kind": "note"},
        format="json",
    )


def test_a_mention_in_a_note_notifies_only_the_mentioned_agent(api, agent, other_agent, conversation):
    start = newest_event_id()
    response = note(api, conversation, "@ben can you look at this router? It's a VIP")
    assert response.status_code == 201
    message = Message.objects.get(kind="note")

    assert notifications(start) == [
        (
            other_agent.pk,
            {
                "kind": "mention",
                "conversation": conversation.pk,
                "message": message.pk,
                "by": {"id": agent.pk, "name": "Ana"},
                "excerpt": "@ben can you look at this router? It's a VIP",
            },
        )
    ]
    event = Event.objects.get(type="notification.created")
    assert event.conversation_id == conversation.pk
    # Only ben replays it; ana (the author) does not.
    ben = APIClient()
    ben.credentials(HTTP_AUTHORIZATION=f"Token {api_token(other_agent)}")
    ben_events = ben.get(f"/api/v1/events?since={start}").json()["events"]
    assert [e["type"] for e in ben_events] == ["message.created", "notification.created"]
    ana_events = api.get(f"/api/v1/events?since={start}").json()["events"]
    assert [e["type"] for e in ana_events] == ["message.created"]


def api_token(agent) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=agent)[0].key


def test_mentions_skip_unknown_inactive_outside_and_self_and_emails(api, agent, other_agent, sms_inbox, conversation):
    AgentFactory(username="carl")  # not in the inbox
    gone = AgentFactory(username="dora", is_active=False)
    sms_inbox.members.add(gone)
    start = newest_event_id()
    note(api, conversation, "@ana @carl @dora @nobody write to ben@example.com, and @BEN. too")
    assert [agent_id for agent_id, _ in notifications(start)] == [other_agent.pk]


def test_a_reply_with_a_mention_notifies_nobody(api, agent, other_agent, conversation):
    start = newest_event_id()
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "@ben hi", "client_id": "r1"}, format="json")
    assert notifications(start) == []


def test_assigning_to_another_agent_notifies_them(api, agent, other_agent, conversation):
    start = newest_event_id()
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": other_agent.pk}, format="json")
    assert notifications(start) == [
        (
            other_agent.pk,
            {
                "kind": "assigned",
                "conversation": conversation.pk,
                "message": None,
                "by": {"id": agent.pk, "name": "Ana"},
                "excerpt": "My router is down",
            },
        )
    ]


def test_taking_a_conversation_yourself_notifies_nobody(api, agent, conversation):
    start = newest_event_id()
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee": agent.pk}, format="json")
    assert Conversation.objects.get().assignee_id == agent.pk
    assert notifications(start) == []


def test_auto_assignment_notifies_the_agent(agent, post_twilio):
    presence_set(agent_id=agent.pk, status="online")
    start = newest_event_id()
    post_twilio(**twilio_params(Body="Hello?"))
    conversation = Conversation.objects.get()
    assert conversation.assignee_id == agent.pk
    assert notifications(start) == [
        (
            agent.pk,
            {"kind": "assigned", "conversation": conversation.pk, "message": None, "by": None, "excerpt": "Hello?"},
        )
    ]
    types = list(Event.objects.filter(id__gt=start).order_by("id").values_list("type", flat=True))
    assert types == ["conversation.created", "message.created", "notification.created"]
