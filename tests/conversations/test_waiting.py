"""waiting_since: set by the customer's message, cleared by an answer or a resolution."""

from __future__ import annotations

import pytest

from apps.conversations.models import Conversation
from apps.conversations.services import conversation_update, message_send

pytestmark = pytest.mark.django_db(transaction=True)


def test_resolving_ends_the_wait_and_a_new_message_starts_it_again(agent, receive_sms):
    receive_sms(Body="hello?")
    conversation = Conversation.objects.get()
    assert conversation.waiting_since is not None

    conversation_update(conversation_id=conversation.pk, by=agent, status="resolved")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.waiting_since) == ("resolved", None)

    message = receive_sms(Body="one more thing")
    new = Conversation.objects.get(pk=message.conversation_id)
    assert new.pk != conversation.pk  # a resolved conversation is not reopened by a new message
    assert new.waiting_since == message.created_at


def test_a_note_does_not_end_the_wait_but_a_reply_does(agent, receive_sms):
    receive_sms(Body="hello?")
    conversation = Conversation.objects.get()
    waiting = conversation.waiting_since

    message_send(conversation_id=conversation.pk, agent=agent, body="checking", client_id="n", kind="note")
    conversation.refresh_from_db()
    assert conversation.waiting_since == waiting
    assert conversation.last_message["kind"] == "note"

    message_send(conversation_id=conversation.pk, agent=agent, body="Restart it", client_id="r")
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    assert (conversation.last_message["body"], conversation.last_message["direction"]) == ("Restart it", "out")
