"""The queue reply on Telegram (docs/routing.md): a new conversation nobody could take is told
its place once, through the outbox, to the local Bot API server; later messages are not."""

from __future__ import annotations

import pytest

from apps.conversations.models import Message
from apps.dispatch.models import InboxRouting, RoutingRule
from tests.factories import TeamFactory
from tests.telegram.conftest import CHAT_ID, update

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_waiting_telegram_customer_is_told_their_place_once(post_update, tg_bot, telegram_server, rnd_team):
    InboxRouting.objects.create(inbox=tg_bot.inbox, queue_reply=True)
    RoutingRule.objects.create(name="Bugs", keywords=["crash"], team=rnd_team)
    post_update(update({"text": "The app crashes when I pay"}))
    replies = Message.objects.filter(meta__automatic="queue_position")
    [reply] = replies
    assert reply.status == Message.Status.DELIVERED  # went out through the outbox
    [call] = telegram_server.calls_of("sendMessage")
    assert call.params == {
        "chat_id": str(CHAT_ID),
        "text": "Thanks for your message. You are number 1 in the queue; an agent will reply soon.",
    }
    timeline = list(reply.conversation.messages.order_by("seq").values_list("kind", "body"))
    assert timeline[1] == (Message.Kind.ACTIVITY, "Routed to R&D: matched 'crashes' (rule “Bugs”)")
    post_update(update({"text": "hello?"}))
    assert replies.count() == 1
    assert len(telegram_server.calls_of("sendMessage")) == 1


@pytest.fixture
def rnd_team(db):
    return TeamFactory(name="R&D")
