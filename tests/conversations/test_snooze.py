"""Snoozed conversations wake up by themselves (the sweep task)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus import tasks
from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_snoozed_conversation_is_open_again_after_its_time(sms_inbox):
    now = timezone.now()
    due = ConversationFactory(inbox=sms_inbox, status="snoozed", snoozed_until=now - dt.timedelta(seconds=1))
    later = ConversationFactory(inbox=sms_inbox, status="snoozed", snoozed_until=now + dt.timedelta(hours=1))

    result = tasks.sweep()

    assert result["woken"] == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.snoozed_until) == ("open", None)
    assert later.status == "snoozed"
    events = list(Event.objects.order_by("id"))
    assert [(e.type, e.conversation_id) for e in events] == [
        ("conversation.updated", due.pk),
        ("message.created", due.pk),
    ]
    assert (events[0].data["status"], events[0].data["changes"]) == ("open", ["status"])
    assert Message.objects.get().body == "The system reopened this"
    assert tasks.sweep()["woken"] == 0
    assert Conversation.objects.filter(status="snoozed").count() == 1
