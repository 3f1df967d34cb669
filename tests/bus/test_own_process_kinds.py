"""A kind sent only by the process that holds its connections (XMPP's run_xmpp):
`register_sender(..., claimed_by_own_process=True)`. The bus worker's claim and the eager path
leave its entries alone; that process claims them with `outbox_claim(kinds=, inbox_ids=)`."""

from __future__ import annotations

import pytest

from apps.bus import registry
from apps.bus.models import OutboxEntry
from apps.bus.services import outbox_deliver
from apps.bus.services.outbox import outbox_claim
from apps.conversations.services import message_send


@pytest.fixture
def phone_held_by_its_own_process():
    saved = registry.snapshot()
    channel = registry.sender_for("phone")
    registry.register_sender(
        "phone", gateway=channel.gateway, build=channel.build, source=channel.source, claimed_by_own_process=True
    )
    yield
    registry.restore(saved)


@pytest.mark.django_db
def test_only_the_owning_process_claims_its_kind(
    receive_sms, agent, twilio_server, sms_inbox, phone_held_by_its_own_process, django_capture_on_commit_callbacks
):
    inbound = receive_sms()
    assert registry.own_process_kinds() == {"phone", "xmpp"}
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="held")

    assert outbox_deliver(message_id=reply.pk) == "skipped"  # the eager path: only the doorbell
    assert outbox_claim(limit=10) == []  # the bus worker
    assert outbox_claim(limit=10, kinds={"phone"}, inbox_ids=[sms_inbox.pk + 1]) == []  # not its inbox
    entry = OutboxEntry.objects.get(message=reply)
    assert (entry.attempts, entry.attempt_started_at, entry.lease_owner) == (0, None, "")

    assert outbox_claim(limit=10, kinds={"phone"}, inbox_ids=[sms_inbox.pk]) == [(reply.pk, None)]
    entry.refresh_from_db()
    assert entry.attempts == 1 and entry.attempt_started_at is not None and entry.lease_owner
    assert twilio_server.message_posts() == []  # claimed, not sent: the owner sends it


@pytest.mark.django_db
def test_other_kinds_are_claimed_by_the_bus_worker_as_before(
    receive_sms, agent, twilio_server, django_capture_on_commit_callbacks
):
    inbound = receive_sms()
    assert "phone" not in registry.own_process_kinds()
    with django_capture_on_commit_callbacks(execute=False):
        reply, _ = message_send(conversation_id=inbound.conversation_id, agent=agent, body="as before")
    assert outbox_claim(limit=10, kinds={"xmpp"}) == []
    assert outbox_claim(limit=10) == [(reply.pk, None)]
