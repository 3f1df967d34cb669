"""The outbox lease: one worker at a time sends a given message."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.conversations.services import message_send
from tests.fakes.twilio_server import ScriptedResponse
from tests.requires import needs_postgres


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_message_send_it_once(receive_sms, agent, twilio_server):
    twilio_server.script(ScriptedResponse(500, b"{}"))  # the first try fails: the entry waits for a retry
    inbound = receive_sms()
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="only once")
    OutboxEntry.objects.filter(message=reply).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))

    workers = 6
    barrier = threading.Barrier(workers)
    results: list[str] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            result = outbox_deliver(message_id=reply.pk)
            with lock:
                results.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["sent"] + ["skipped"] * (workers - 1)
    assert len(twilio_server.message_posts()) == 2  # the failed try and one successful send
    reply.refresh_from_db()
    assert reply.provider_id in twilio_server.messages
    assert OutboxEntry.objects.get(message=reply).attempts == 2


@pytest.mark.django_db
def test_expired_lease_of_a_dead_worker_is_taken_over(
    receive_sms, agent, twilio_server, django_capture_on_commit_callbacks
):
    inbound = receive_sms()
    with django_capture_on_commit_callbacks(execute=False):
        reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="hello")
    OutboxEntry.objects.filter(message=reply).update(
        attempts=1,
        lease_until=timezone.now() - dt.timedelta(seconds=1),  # its worker died mid-send
    )
    assert outbox_deliver(message_id=reply.pk) == "sent"
    assert len(twilio_server.message_posts()) == 1
    assert OutboxEntry.objects.get(message=reply).attempts == 2
