"""The satisfaction question on Telegram: asked after resolve, answered by replying a number."""

from __future__ import annotations

import pytest

from apps.conversations.models import Conversation
from apps.conversations.services import conversation_update, message_send
from apps.csat.models import Survey
from apps.csat.services import csat_surveys_send
from tests.telegram.conftest import update

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reply_with_a_number_rates_the_resolved_conversation(post_update, tg_bot, tg_agent):
    post_update(update())
    conversation = Conversation.objects.get()
    message_send(conversation_id=conversation.pk, agent=tg_agent, body="Found it!", client_id="a1")
    conversation_update(conversation_id=conversation.pk, by=tg_agent, status="resolved")
    assert csat_surveys_send() == 1
    assert Survey.objects.get().channel == "telegram"

    post_update(update({"text": "3 it took a while"}))

    assert Conversation.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    survey = Survey.objects.get()
    assert (survey.rating, survey.comment, survey.agent_id) == (3, "it took a while", tg_agent.pk)
