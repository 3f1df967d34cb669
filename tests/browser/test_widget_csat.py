"""The satisfaction question in the widget, rated inline, in real Chromium against a real server."""

from __future__ import annotations

import pytest
import requests

from apps.conversations.models import Conversation
from apps.csat.models import Survey
from tests.browser.test_widget import (  # noqa: F401 - fixtures
    agent_token,
    api_reply,
    demo_url,
    desk,
    host_site,
    inbox,
    make_inbox,
    open_widget,
    unique,
)
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_after_resolve_the_visitor_rates_the_conversation_inline(chromium, desk, inbox, agent):  # noqa: F811
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        question = unique("Do you ship abroad?")
        visitor.send(question)
        visitor.state(question, "sent").wait_for()
        conversation = wait_for(lambda: Conversation.objects.first(), what="the conversation")
        api_reply(desk, agent, conversation.pk, "Yes, to 40 countries.")
        response = requests.patch(
            f"{desk.url}/api/v1/conversations/{conversation.pk}",
            json={"status": "resolved"},
            headers={"Authorization": f"Token {agent_token(agent)}"},
            timeout=15,
        )
        assert response.status_code == 200
        # The server's periodic sweep asks the question; the widget shows it with five buttons.
        rating = visitor.q("li.msg.theirs .rating")
        rating.wait_for(timeout=30_000)
        assert rating.locator("button.rate").all_inner_texts() == ["1", "2", "3", "4", "5"]
        rating.locator("button.rate", has_text="4").click()
        visitor.q(".rating-note").filter(has_text="Thanks! You rated us 4/5.").wait_for()
        survey = Survey.objects.get()
        assert (survey.rating, survey.channel, survey.agent_id) == (4, "widget", agent.pk)
        conversation.refresh_from_db()
        assert conversation.status == "resolved"
        assert visitor.errors == []
    finally:
        visitor.context.close()
