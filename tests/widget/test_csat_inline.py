"""The satisfaction question in the widget: a link to the survey page, rated inline by the
visitor (POST /widget/api/csat), once, and only for their own conversation's survey."""

from __future__ import annotations

import pytest

from apps.conversations.models import Conversation, Message
from apps.conversations.services import conversation_update, message_send
from apps.csat.models import Survey
from apps.csat.services import csat_surveys_send
from tests.widget.conftest import WidgetClient

pytestmark = pytest.mark.django_db(transaction=True)


def rate(widget: WidgetClient, token: str, rating, visitor_token: str | None = None):
    return widget.http.post(
        "/widget/api/csat",
        {"token": token, "rating": rating},
        content_type="application/json",
        **widget.headers(visitor_token),
    )


def test_the_visitor_rates_inline_once(widget, agent):
    widget.session()
    assert widget.send("Where is my parcel?", "c-1").status_code == 201
    conversation = Conversation.objects.get()
    message_send(conversation_id=conversation.pk, agent=agent, body="On its way", client_id="a-1")
    conversation_update(conversation_id=conversation.pk, by=agent, status="resolved")
    assert csat_surveys_send() == 1
    survey = Survey.objects.get()
    question = Message.objects.get(pk=survey.message_id)
    assert survey.channel == "widget"
    assert question.body.endswith(f"/csat/{survey.token}")
    # The visitor sees the question in their history (the panel renders the rating inline).
    bodies = [m["text"] for m in widget.history().json()["messages"]]
    assert question.body in bodies

    assert rate(widget, survey.token, 9).status_code == 400
    stranger = WidgetClient(widget.inbox, ip="203.0.113.9")
    stranger.session()
    assert rate(stranger, survey.token, 1).status_code == 404  # not their conversation
    answered = rate(widget, survey.token, 5)
    assert answered.status_code == 200 and answered.json() == {"rating": 5, "comment": ""}
    assert rate(widget, survey.token, 1).json()["rating"] == 5  # once
    survey.refresh_from_db()
    assert (survey.status, survey.rating, survey.agent_id) == ("answered", 5, agent.pk)
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
