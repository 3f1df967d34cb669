"""Where a waiting customer stands: queue position (priority, then wait), expected wait from
recent waits, the widget's endpoint, and the automatic reply on SMS/Telegram/XMPP (once)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.bus.models import OutboxEntry
from apps.conversations.models import Conversation, Message
from apps.dispatch.models import InboxRouting, QueueWait
from apps.dispatch.queue import expected_wait_seconds, queue_reply_text, queue_status, wait_words
from apps.widget.models import WidgetSettings
from tests.factories import InboxFactory
from tests.routing.conftest import online
from tests.widget.conftest import SECRET, SITE, WidgetClient

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def test_expected_wait_from_the_queue_pace():
    # 6 assignments in the last 30 minutes: one every 5 minutes; third in line: about 15 minutes.
    recent = [(NOW - dt.timedelta(minutes=5 * i), 60) for i in range(6)]
    pace = 6 / (25 * 60)  # the oldest sample is 25 minutes old
    assert expected_wait_seconds(position=3, recent=recent, now=NOW, agents_online=2) == round(3 / pace) == 750


def test_expected_wait_falls_back_to_the_median_then_to_unknown():
    old = [(NOW - dt.timedelta(hours=3), 120), (NOW - dt.timedelta(hours=4), 300), (NOW - dt.timedelta(hours=5), 60)]
    assert expected_wait_seconds(position=2, recent=old, now=NOW, agents_online=1) == 240  # median 120 x 2
    assert expected_wait_seconds(position=2, recent=[], now=NOW, agents_online=1) is None
    assert expected_wait_seconds(position=2, recent=old, now=NOW, agents_online=0) is None  # nobody online


def test_wait_words_and_reply_text():
    assert wait_words(None) == ""
    assert wait_words(20) == "less than a minute"
    assert wait_words(61) == "about 1 minute"
    assert wait_words(14 * 60) == "about 14 minutes"
    assert wait_words(3 * 3600) == "about 3 hours"


@pytest.mark.django_db(transaction=True)
def test_position_counts_priority_then_wait(write, sms_inbox):
    a, b, c = write("first"), write("second"), write("third")
    assert [queue_status(Conversation.objects.get(pk=x.pk)).position for x in (a, b, c)] == [1, 2, 3]
    Conversation.objects.filter(pk=c.pk).update(priority=Conversation.Priority.URGENT)
    assert [queue_status(Conversation.objects.get(pk=x.pk)).position for x in (a, b, c)] == [2, 3, 1]
    Conversation.objects.filter(pk=a.pk).update(status=Conversation.Status.RESOLVED)
    status = queue_status(Conversation.objects.get(pk=b.pk))
    assert (status.waiting, status.position, status.ahead) == (True, 2, 1)
    assert queue_status(Conversation.objects.get(pk=a.pk)).waiting is False


@pytest.mark.django_db(transaction=True)
def test_waits_are_recorded_when_the_queue_hands_out(write, agent, sms_inbox, team):
    waiting = write("hello")
    assert not QueueWait.objects.exists()
    online(agent)  # the drain gives it to ana
    assert Conversation.objects.get(pk=waiting.pk).assignee_id == agent.pk
    sample = QueueWait.objects.get()
    assert sample.inbox_id == sms_inbox.pk and sample.team_id == team.pk


# --- the automatic reply --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_queue_reply_is_sent_once_through_the_outbox(write, sms_inbox):
    InboxRouting.objects.create(inbox=sms_inbox, queue_reply=True)
    first = write("hello")
    replies = Message.objects.filter(conversation=first, meta__automatic="queue_position")
    assert replies.count() == 1
    reply = replies.get()
    assert reply.direction == Message.Direction.OUTBOUND and reply.channel == "phone"
    assert reply.body == "Thanks for your message. You are number 1 in the queue; an agent will reply soon."
    assert OutboxEntry.objects.filter(message=reply).count() == 1
    # More messages in the same conversation: nothing more.
    write("are you there?", sender=first.contact.identities.get().address)
    assert replies.count() == 1
    second = write("me too")
    assert Message.objects.get(conversation=second, meta__automatic="queue_position").body.startswith(
        "Thanks for your message. You are number 2 in the queue"
    )


@pytest.mark.django_db(transaction=True)
def test_no_queue_reply_when_assigned_or_off(write, sms_inbox, agent):
    assert not Message.objects.filter(meta__automatic="queue_position", conversation=write("hi")).exists()  # off
    InboxRouting.objects.create(inbox=sms_inbox, queue_reply=True, queue_reply_text="You are #{position}, wait {wait}.")
    online(agent)
    taken = write("hello")
    assert not Message.objects.filter(conversation=taken, meta__automatic="queue_position").exists()


@pytest.mark.django_db(transaction=True)
def test_custom_queue_reply_text(write, sms_inbox):
    InboxRouting.objects.create(inbox=sms_inbox, queue_reply=True, queue_reply_text="You are #{position}, wait {wait}.")
    assert Message.objects.get(conversation=write("hi"), meta__automatic="queue_position").body == (
        "You are #1, wait a short while."
    )


def test_queue_reply_text_default_with_a_wait():
    class S:
        position = 4
        expected_wait_seconds = 600

    assert queue_reply_text("", S()) == (  # type: ignore[arg-type]
        "Thanks for your message. You are number 4 in the queue (expected wait: about 10 minutes); "
        "an agent will reply soon."
    )


# --- the widget -----------------------------------------------------------------------------


@pytest.fixture
def chat_inbox(db, team, agent) -> Inbox:
    inbox = InboxFactory(name="Shop chat", channel=Inbox.Channel.WIDGET, address="", team=team)
    inbox.members.add(agent)
    WidgetSettings.objects.create(inbox=inbox, allowed_origins=SITE, secret=SECRET)
    return inbox


@pytest.mark.django_db(transaction=True)
def test_widget_queue_endpoint_without_a_conversation(chat_inbox, settings):
    settings.WIDGET_QUEUE_POLL_SECONDS = 7
    client = WidgetClient(chat_inbox)
    assert client.session().status_code == 200
    body = client.http.get("/widget/api/queue", **client.headers()).json()
    assert body == {"waiting": False, "conversation": None, "poll_seconds": 7}


@pytest.mark.django_db(transaction=True)
def test_widget_queue_position_and_wait(chat_inbox, agent):
    clients = [WidgetClient(chat_inbox, ip=f"203.0.113.{10 + i}") for i in range(3)]
    for i, client in enumerate(clients):
        assert client.session().status_code == 200
        assert client.send(f"hello {i}", f"c-{i}").status_code == 201
    QueueWait.objects.create(
        inbox=chat_inbox,
        team_id=chat_inbox.team_id,
        waited_seconds=120,
        assigned_at=timezone.now() - dt.timedelta(hours=2),
    )
    agent.max_conversations = 0  # online, but full: nobody is handed out
    agent.save(update_fields=["max_conversations"])
    online(agent)
    third = clients[2].http.get("/widget/api/queue", **clients[2].headers()).json()
    assert (third["waiting"], third["position"], third["ahead"]) == (True, 3, 2)
    assert third["expected_wait_seconds"] == 360 and third["expected_wait"] == "about 6 minutes"
    assert third["agents_online"] == 1
    # The first is answered: everyone moves up.
    Conversation.objects.filter(
        pk=clients[0].http.get("/widget/api/queue", **clients[0].headers()).json()["conversation"]
    ).update(assignee=agent)
    assert clients[2].http.get("/widget/api/queue", **clients[2].headers()).json()["position"] == 2
    assert clients[0].http.get("/widget/api/queue", **clients[0].headers()).json()["waiting"] is False
    assert clients[2].http.get("/widget/api/queue").status_code == 401  # a token is needed
