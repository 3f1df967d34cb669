"""A resolved conversation is reopened by a person's reply, never by automatic mail."""

from __future__ import annotations

import pytest

from apps.conversations.models import Conversation, Message
from apps.conversations.services import conversation_update, message_send
from apps.csat.models import Survey
from apps.csat.services import csat_surveys_send
from tests.mail.support import compose

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved(email_inbox, agent, receive) -> Conversation:
    first = receive(compose())
    conversation_update(conversation_id=first.conversation_id, by=agent, status=Conversation.Status.RESOLVED)
    return Conversation.objects.get(pk=first.conversation_id)


def test_auto_reply_lands_in_the_resolved_conversation_and_leaves_it_resolved(resolved, receive):
    message = receive(
        compose(
            subject=f"Out of office: Re: Router problem [#{resolved.pk}]", headers={"Auto-Submitted": "auto-replied"}
        )
    )

    assert message.conversation_id == resolved.pk
    assert message.meta["email"]["auto"] is True
    resolved.refresh_from_db()
    assert resolved.status == Conversation.Status.RESOLVED
    assert resolved.waiting_since is None
    assert not Message.objects.filter(conversation=resolved, kind="activity", meta__reopened=True).exists()


def test_a_persons_reply_reopens_the_resolved_conversation(resolved, receive):
    message = receive(compose(subject=f"Re: Router problem [#{resolved.pk}]", body="It broke again."))

    assert message.conversation_id == resolved.pk
    resolved.refresh_from_db()
    assert resolved.status == Conversation.Status.OPEN
    assert resolved.waiting_since == message.created_at
    [activity] = Message.objects.filter(conversation=resolved, kind="activity", meta__reopened=True)
    assert activity.body == "The customer wrote again: reopened"
    assert activity.seq == message.seq + 1


def test_auto_reply_does_not_wake_a_snoozed_conversation(email_inbox, agent, receive):
    import datetime as dt

    from django.utils import timezone

    first = receive(compose())
    until = timezone.now() + dt.timedelta(days=1)
    conversation_update(
        conversation_id=first.conversation_id, by=agent, status=Conversation.Status.SNOOZED, snoozed_until=until
    )

    receive(compose(subject=f"Re: [#{first.conversation_id}]", headers={"X-Autoreply": "yes"}))

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert (conversation.status, conversation.snoozed_until) == (Conversation.Status.SNOOZED, until)


def test_a_reply_rating_the_survey_leaves_the_conversation_resolved(email_inbox, agent, receive):
    first = receive(compose())
    message_send(conversation_id=first.conversation_id, agent=agent, body="Restart it.", client_id="r1")
    conversation_update(conversation_id=first.conversation_id, by=agent, status=Conversation.Status.RESOLVED)
    assert csat_surveys_send() == 1
    survey = Survey.objects.get()
    assert survey.channel == "email" and "/csat/" in Message.objects.get(pk=survey.message_id).body

    answer = receive(compose(subject=f"Re: Router problem [#{first.conversation_id}]", body="5 thanks!"))

    assert answer.conversation_id == first.conversation_id
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.status == Conversation.Status.RESOLVED
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (5, "thanks!")
    # Once answered, a person's next reply reopens it as always.
    receive(compose(subject=f"Re: Router problem [#{first.conversation_id}]", body="It broke again."))
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
