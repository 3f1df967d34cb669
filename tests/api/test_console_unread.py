"""The console's unread totals (tab title) and the agent-only conversation.read event."""

from __future__ import annotations

import pytest

from apps.bus.models import Event
from apps.conversations.models import Conversation
from apps.conversations.services import conversation_update
from tests.conftest import twilio_params

pytestmark = pytest.mark.django_db(transaction=True)


def texts(post_twilio, sender: str, *bodies: str) -> Conversation:
    for body in bodies:
        assert post_twilio(**twilio_params(From=sender, Body=body)).status_code == 200
    return Conversation.objects.get(contact__identities__address=sender)


def test_totals_count_unread_customer_messages_in_open_conversations_of_mine_or_nobodys(
    api, agent, other_agent, post_twilio, django_assert_max_num_queries
):
    mine = texts(post_twilio, "+14155550101", "one", "two")
    nobodys = texts(post_twilio, "+14155550102", "three")
    bens = texts(post_twilio, "+14155550103", "four")
    resolved = texts(post_twilio, "+14155550104", "five")
    conversation_update(conversation_id=mine.pk, by=agent, assignee_id=agent.pk)
    conversation_update(conversation_id=bens.pk, by=agent, assignee_id=other_agent.pk)
    conversation_update(conversation_id=resolved.pk, by=agent, status="resolved")
    assert Conversation.objects.get(pk=nobodys.pk).assignee_id is None

    with django_assert_max_num_queries(2):  # the token, then one query
        response = api.get("/api/v1/unread")

    assert response.status_code == 200
    assert response.json() == {"messages": 3, "conversations": 2, "noise": 0}


def test_reading_lowers_the_totals_and_tells_only_that_agent(api, agent, other_agent, post_twilio):
    conversation = texts(post_twilio, "+14155550101", "one", "two")
    conversation_update(conversation_id=conversation.pk, by=agent, assignee_id=agent.pk)
    before = Event.objects.order_by("-id").values_list("id", flat=True)[0]

    response = api.post(f"/api/v1/conversations/{conversation.pk}/read", {}, format="json")

    assert response.status_code == 200
    assert api.get("/api/v1/unread").json() == {"messages": 0, "conversations": 0, "noise": 0}
    [event] = Event.objects.filter(id__gt=before)
    assert (event.type, event.agent_id, event.conversation_id) == ("conversation.read", agent.pk, conversation.pk)
    conversation.refresh_from_db()  # the assignment added an activity entry
    assert event.data == {"conversation": conversation.pk, "seq": conversation.last_seq}


def test_reading_again_writes_no_event(api, agent, post_twilio):
    conversation = texts(post_twilio, "+14155550101", "one")
    api.post(f"/api/v1/conversations/{conversation.pk}/read", {}, format="json")
    before = Event.objects.order_by("-id").values_list("id", flat=True)[0]

    api.post(f"/api/v1/conversations/{conversation.pk}/read", {}, format="json")

    assert not Event.objects.filter(id__gt=before).exists()


# How the totals are read on PostgreSQL (the kept tally and the agent's own markers, not every
# open conversation): tests/api/test_unread_tally.py.
