"""The sweeper picks up work whose Celery task was lost (broker down, worker killed)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.utils import timezone

from apps.bus.models import InboundEntry, OutboxEntry
from apps.bus.tasks import sweep
from apps.conversations.models import Message
from apps.conversations.services import message_send
from tests.conftest import twilio_params
from tests.fakes.twilio_server import ScriptedResponse


def _journal_without_dispatch(age: dt.timedelta, **overrides: str) -> InboundEntry:
    """An entry as inbound_accept writes it, whose processing task never ran."""
    params = twilio_params(**overrides)
    entry = InboundEntry.objects.create(
        source="twilio:" + params["AccountSid"],
        provider_message_id=params["MessageSid"],
        channel="sms",
        sender=params["From"],
        payload={k: [v] for k, v in params.items()},
        raw=urlencode(params).encode(),
    )
    InboundEntry.objects.filter(pk=entry.pk).update(received_at=timezone.now() - age)
    return entry


def one_tally_row() -> int:
    """Rows of the unread tally a desk with one open conversation holds (none on SQLite)."""
    return 1 if connection.vendor == "postgresql" else 0


@pytest.mark.django_db(transaction=True)
def test_inbound_entry_whose_task_was_lost_is_processed(sms_inbox):
    entry = _journal_without_dispatch(dt.timedelta(minutes=5), Body="lost in the broker")
    assert sweep() == {
        "inbound": 1,
        "outbox": 0,
        "attachments": 0,
        "statuses": 0,
        "woken": 0,
        "widget_offline_email": {},
        "whatsapp_templates": "no account",
        "triage_retrain": "not yet",
        "sla": {"events": 2, "retargeted": 0, "breaches": 0},  # the clocks read the new conversation's two events
        "csat": 0,
        "mastodon-backfill": 0,
        "unread_tally": one_tally_row(),  # the new conversation's unread sum, folded
    }
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.DONE
    message = Message.objects.get()
    assert entry.message_id == message.pk
    assert message.body == "lost in the broker"
    assert message.created_at == entry.received_at  # ordered by when it reached us
    assert sweep() == {
        "inbound": 0,
        "outbox": 0,
        "attachments": 0,
        "statuses": 0,
        "woken": 0,
        "widget_offline_email": {},
        "whatsapp_templates": "no account",
        "triage_retrain": "not yet",
        "sla": {"events": 0, "retargeted": 0, "breaches": 0},
        "csat": 0,
        "mastodon-backfill": 0,
        "unread_tally": one_tally_row(),
    }


@pytest.mark.django_db(transaction=True)
def test_fresh_pending_entry_is_left_to_its_task(sms_inbox):
    entry = _journal_without_dispatch(dt.timedelta(seconds=0))
    assert sweep()["inbound"] == 0
    entry.refresh_from_db()
    assert entry.state == InboundEntry.State.PENDING
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_flagged_entry_is_not_swept(sms_inbox):
    entry = _journal_without_dispatch(dt.timedelta(minutes=5))
    InboundEntry.objects.filter(pk=entry.pk).update(state=InboundEntry.State.FLAGGED, flag_reason="held for review")
    assert sweep()["inbound"] == 0
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_lost_entries_of_one_sender_are_stored_in_arrival_order(sms_inbox):
    older = _journal_without_dispatch(dt.timedelta(minutes=6), Body="first")
    newer = _journal_without_dispatch(dt.timedelta(minutes=5), Body="second")
    from apps.bus.services import inbound_process

    # The newer one's task happens to run first: it takes the older one along, in order.
    assert inbound_process(entry_id=newer.pk) == InboundEntry.State.DONE
    assert list(Message.objects.order_by("seq").values_list("body", "seq")) == [("first", 1), ("second", 2)]
    older.refresh_from_db()
    assert older.state == InboundEntry.State.DONE
    assert inbound_process(entry_id=older.pk) == InboundEntry.State.DONE  # its own task: nothing to do
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_outbox_entry_whose_task_was_lost_is_sent(
    receive_sms, agent, twilio_server, django_capture_on_commit_callbacks
):
    inbound = receive_sms()
    with django_capture_on_commit_callbacks(execute=False):  # the deliver task is lost
        reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="On it")
    assert sweep()["outbox"] == 0  # just queued: its task may still come
    assert twilio_server.message_posts() == []

    OutboxEntry.objects.filter(message=reply).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert sweep()["outbox"] == 1

    reply.refresh_from_db()
    [post] = twilio_server.message_posts()
    assert post.field("Body") == "On it"
    assert reply.provider_id in twilio_server.messages
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.DONE
    assert sweep()["outbox"] == 0


@pytest.mark.django_db(transaction=True)
def test_outbox_entry_in_backoff_is_swept_only_when_due(receive_sms, agent, twilio_server):
    twilio_server.script(ScriptedResponse(503, b'{"code": 20503, "message": "busy", "status": 503}'))
    inbound = receive_sms()
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="On it")
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.PENDING
    assert sweep()["outbox"] == 0
    assert len(twilio_server.message_posts()) == 1

    OutboxEntry.objects.filter(message=reply).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert sweep()["outbox"] == 1
    reply.refresh_from_db()
    assert len(twilio_server.message_posts()) == 2
    assert reply.provider_id in twilio_server.messages
    assert OutboxEntry.objects.get(message=reply).state == OutboxEntry.State.DONE


def _attachment_waiting(receive_sms, url: str, age: dt.timedelta):
    """An MMS whose media fetch never completed (task lost, or retries used up)."""
    from apps.conversations.models import Attachment

    message = receive_sms(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    attachment = message.attachments.get()
    Attachment.objects.filter(pk=attachment.pk).update(file="", error="", created_at=timezone.now() - age)
    return attachment


@pytest.mark.django_db(transaction=True)
def test_media_whose_fetch_was_lost_is_fetched_by_the_sweeper(receive_sms, twilio_server):
    from apps.conversations.models import Attachment

    url = twilio_server.add_media(b"\xff\xd8\xff\xe0jpeg-bytes", "image/jpeg")
    attachment = _attachment_waiting(receive_sms, url, dt.timedelta(minutes=5))

    result = sweep()

    assert result["attachments"] == 1
    attachment = Attachment.objects.get(pk=attachment.pk)
    assert attachment.error == ""
    assert attachment.file.read() == b"\xff\xd8\xff\xe0jpeg-bytes"


@pytest.mark.django_db(transaction=True)
def test_media_pending_for_over_a_day_is_given_up_with_a_reason(receive_sms, twilio_server):
    from apps.conversations.models import Attachment

    url = twilio_server.add_media(b"\xff\xd8\xff\xe0jpeg-bytes", "image/jpeg")
    attachment = _attachment_waiting(receive_sms, url, dt.timedelta(days=2))

    result = sweep()

    assert result["attachments"] == 0
    attachment = Attachment.objects.get(pk=attachment.pk)
    assert not attachment.file
    assert attachment.error == "The media could not be fetched from the provider (gave up after a day)."
