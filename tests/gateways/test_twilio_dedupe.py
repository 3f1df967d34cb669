"""A redelivered webhook is stored once, sequentially and concurrently (real threads, real Postgres)."""

from __future__ import annotations

import threading

import pytest
import requests
from django.db import connection

from apps.bus.events import EventType
from apps.bus.models import Event, InboundEntry
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Conversation, Message
from tests.conftest import twilio_params, twilio_sign
from tests.requires import needs_postgres

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True

INBOUND = "/webhooks/twilio/messages"


@pytest.mark.django_db(transaction=True)
def test_same_message_sid_twice_is_one_entry_and_one_message(post_twilio, sms_inbox):
    params = twilio_params(Body="Hello?")
    first = post_twilio(**params)
    second = post_twilio(**params)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert InboundEntry.objects.count() == 1
    message = Message.objects.get()
    assert message.provider_id == params["MessageSid"]
    assert Event.objects.filter(type=EventType.MESSAGE_CREATED).count() == 1
    assert Event.objects.filter(type=EventType.CONVERSATION_CREATED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_redelivery_after_processing_does_not_touch_the_message(post_twilio, sms_inbox):
    params = twilio_params(Body="Hello?")
    post_twilio(**params)
    message = Message.objects.get()
    events = Event.objects.count()
    post_twilio(**{**params, "Body": "a changed body under the same sid"})  # Twilio never does this
    message.refresh_from_db()
    assert message.body == "Hello?"
    assert Event.objects.count() == events


def _post_concurrently(base_url: str, payloads: list[dict[str, str]]) -> list[int]:
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = [0] * len(payloads)

    def post(index: int, params: dict[str, str]) -> None:
        signature = twilio_sign(INBOUND, params)
        barrier.wait(timeout=10)
        response = requests.post(base_url + INBOUND, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
        statuses[index] = response.status_code

    threads = [threading.Thread(target=post, args=(i, p)) for i, p in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_exactly_one_message(live_server, settings, sms_inbox):
    settings.PUBLIC_BASE_URL = live_server.url
    params = twilio_params(Body="sent once, delivered six times at once")
    statuses = _post_concurrently(live_server.url, [params] * 6)
    assert statuses == [200] * 6
    assert InboundEntry.objects.count() == 1
    assert InboundEntry.objects.get().state == InboundEntry.State.DONE
    assert Message.objects.count() == 1
    assert Event.objects.filter(type=EventType.MESSAGE_CREATED).count() == 1


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_of_a_new_customer_open_one_conversation(live_server, settings, sms_inbox):
    settings.PUBLIC_BASE_URL = live_server.url
    payloads = [
        twilio_params(From="4155552671", Body="one"),
        twilio_params(From="+14155552671", Body="two"),
        twilio_params(From="+1 415 555 2671", Body="three"),
        twilio_params(From="(415) 555-2671", Body="four"),
    ]
    statuses = _post_concurrently(live_server.url, payloads)
    assert statuses == [200] * 4
    assert Contact.objects.count() == 1
    assert Identity.objects.get().address == "+14155552671"
    conversation = Conversation.objects.get()
    messages = list(conversation.messages.order_by("seq"))
    assert [m.seq for m in messages] == [1, 2, 3, 4]
    assert sorted(m.body for m in messages) == ["four", "one", "three", "two"]
    assert conversation.last_seq == 4
    assert set(InboundEntry.objects.values_list("state", flat=True)) == {InboundEntry.State.DONE}


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_inbound_accept_calls_insert_one_entry(sms_inbox):
    from apps.bus.services import inbound_accept

    params = twilio_params()
    payload = {k: [v] for k, v in params.items()}
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def accept() -> None:
        try:
            barrier.wait(timeout=10)
            _, created = inbound_accept(
                source="twilio:" + params["AccountSid"],
                provider_message_id=params["MessageSid"],
                channel="sms",
                sender=params["From"],
                payload=payload,
                raw=b"raw",
            )
            with lock:
                results.append(created)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 7 + [True]
    assert InboundEntry.objects.count() == 1
    assert Message.objects.count() == 1
