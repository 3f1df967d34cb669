"""Replies out on run_xmpp's connection: text, files (HTTP File Upload, then OOB), receipts
back to "delivered", and typing both ways."""

from __future__ import annotations

import pytest
import requests

from apps.bus.models import OutboxEntry, StatusReceipt
from apps.bus.services.outbox import outbox_claim, outbox_deliver
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.conversations.services.send import FileUpload
from apps.gateways.xmpp import ids
from tests.gateways.xmpp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(desk, xmpp_inbox, customer, agent) -> Conversation:
    xmpp_inbox.members.add(agent)
    desk.start().connected()
    customer.send(xmpp_inbox.address, "Hello?")
    return wait_for(lambda: Conversation.objects.filter(inbox=xmpp_inbox).first(), what="the conversation")


def bodies(customer) -> list[str]:
    return [m["body"] for m in customer.received if m["body"]]


def test_a_reply_reaches_the_customer_and_their_receipt_marks_it_delivered(conversation, customer, agent):
    message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="We are on it.")

    wait_for(lambda: "We are on it." in bodies(customer), what="the reply at the customer")
    [stanza] = [m for m in customer.received if m["body"] == "We are on it."]
    assert stanza["id"] == ids.stanza_id(message.pk, 0)
    assert stanza["origin_id"]["id"] == stanza["id"]
    assert stanza["request_receipt"]
    # The stanza can reach the customer before the sender has recorded its send.
    wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT, what="the send recorded")
    message.refresh_from_db()
    assert message.provider_id == stanza["id"]
    assert OutboxEntry.objects.get(message=message).state == OutboxEntry.State.DONE

    customer.ack(stanza)
    wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.DELIVERED, what="delivered")
    receipt = StatusReceipt.objects.get()
    assert (receipt.source, receipt.message_ref, receipt.applied) == ("xmpp", message.pk, True)
    assert bodies(customer).count("We are on it.") == 1


def test_the_bus_worker_and_the_eager_path_never_send_xmpp_replies(conversation, customer, agent, desk):
    desk.stop()  # nobody holds the connection now
    message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="queued while away")

    assert outbox_deliver(message_id=message.pk) == "skipped"
    assert outbox_claim(limit=10) == []  # the bus worker's claim leaves it alone
    entry = OutboxEntry.objects.get(message=message)
    assert (entry.state, entry.attempts, entry.attempt_started_at) == (OutboxEntry.State.PENDING, 0, None)

    desk.start().connected(sessions=1)
    wait_for(lambda: "queued while away" in bodies(customer), what="the reply once run_xmpp is back")
    wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT, what="sent")


def test_a_file_goes_out_through_http_upload_and_oob(conversation, customer, agent):
    data = b"%PDF-1.4 invoice " + b"0" * 500
    message, _ = message_send(
        conversation_id=conversation.pk,
        agent=agent,
        body="Your invoice",
        attachments=[FileUpload(filename="invoice.pdf", content_type="application/pdf", data=data)],
    )

    wait_for(lambda: len(bodies(customer)) >= 2, what="text and file at the customer")
    text, file = [m for m in customer.received if m["body"]]
    assert text["body"] == "Your invoice" and text["id"] == ids.stanza_id(message.pk, 0)
    assert file["id"] == ids.stanza_id(message.pk, 1)
    url = file["oob"]["url"]
    assert url and file["body"] == url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == data
    wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT, what="sent")


def test_the_customer_typing_reaches_the_console(conversation, customer, xmpp_inbox):
    from apps.bus import doorbell

    frames: list[str] = []
    listener = doorbell.Listener([doorbell.EPHEMERAL])
    try:
        listener.wait(0.01)
        customer.send(xmpp_inbox.address, state="composing")

        def typing_frame() -> bool:
            frames.extend(payload for _, payload in listener.wait(0.2))
            return any('"typing"' in f for f in frames)

        wait_for(typing_frame, what="the typing frame")
    finally:
        listener.stop()
    import json

    frame = json.loads(next(f for f in frames if '"typing"' in f))
    assert frame["group"] == f"inbox.{xmpp_inbox.pk}"
    assert frame["frame"]["type"] == "typing"
    assert frame["frame"]["conversation"] == conversation.pk
    assert frame["frame"]["data"]["on"] is True


def test_an_agent_typing_reaches_the_customer_as_a_chat_state(conversation, customer, agent, xmpp_inbox):
    from django.db import transaction

    from apps.bus.events import EventType, event_append

    with transaction.atomic():
        event_append(
            type=EventType.TYPING,
            conversation_id=conversation.pk,
            inbox_id=xmpp_inbox.pk,
            data={"agent": agent.pk, "on": True},
        )
    wait_for(lambda: (xmpp_inbox.address, "composing") in customer.states, what="composing at the customer")


def _in_doubt(message: Message, *, settled: bool) -> None:
    """As if run_xmpp died mid-send: the attempt recorded, its outcome never settled."""
    import datetime as dt

    from django.utils import timezone

    from apps.bus import doorbell

    OutboxEntry.objects.filter(message=message).update(
        state=OutboxEntry.State.PENDING,
        attempt_started_at=timezone.now() - dt.timedelta(seconds=30),
        next_attempt_at=timezone.now(),
        lease_until=None,
    )
    if settled:
        Message.objects.filter(pk=message.pk).update(status=Message.Status.QUEUED)
    doorbell.ring(doorbell.OUTBOX)


def test_a_send_in_doubt_that_reached_the_server_is_not_sent_again(conversation, customer, agent):
    message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="only once")
    wait_for(lambda: "only once" in bodies(customer), what="the reply")
    wait_for(lambda: OutboxEntry.objects.get(message=message).state == OutboxEntry.State.DONE, what="settled")

    _in_doubt(message, settled=True)
    entry = wait_for(
        lambda: (e := OutboxEntry.objects.get(message=message)).state == OutboxEntry.State.DONE and e, what="resettled"
    )
    assert entry.provider_checks == 1  # the archive was asked …
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    customer.send(conversation.inbox.address, "sync")  # a round trip: anything resent would be here by now
    assert bodies(customer).count("only once") == 1  # … and nothing was sent again


def test_a_send_in_doubt_that_never_reached_the_server_is_sent_once(conversation, customer, agent, desk):
    desk.stop()
    message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="lost before the wire")
    _in_doubt(message, settled=False)
    desk.start().connected()

    wait_for(lambda: "lost before the wire" in bodies(customer), what="the reply")
    entry = wait_for(
        lambda: (e := OutboxEntry.objects.get(message=message)).state == OutboxEntry.State.DONE and e, what="settled"
    )
    assert entry.provider_checks == 1
    customer.send(conversation.inbox.address, "sync")
    assert bodies(customer).count("lost before the wire") == 1


def test_a_reply_the_server_bounces_is_shown_failed(conversation, agent):
    from apps.contacts.models import Identity

    nobody = Identity.objects.create(
        contact_id=conversation.contact_id, kind="xmpp", address="nobody-here@desk.localhost", verified=True
    )
    message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="hello?", identity_id=nobody.pk)

    failed = wait_for(
        lambda: (m := Message.objects.get(pk=message.pk)).status == Message.Status.FAILED and m, what="failed"
    )
    assert failed.error_code == "xmpp:service-unavailable"
    assert failed.error_message


@pytest.fixture
def no_keepalive_soon(xmpp_settings):
    """The frozen server is found by the sends, not by a keepalive that would drop the session."""
    xmpp_settings.XMPP_KEEPALIVE_SECONDS = 60


def test_a_reply_whose_confirmation_never_came_is_checked_in_the_archive_not_resent(
    no_keepalive_soon, conversation, customer, agent, prosody_server, xmpp_settings
):
    """The server freezes after the stanza was written: no answer to the send's ping, the
    outcome is unknown. Once the server is back, the archive says it has the reply: settled as
    sent, never written twice."""
    xmpp_settings.XMPP_SEND_TIMEOUT_SECONDS = 1.0
    prosody_server.pause()
    try:
        message, _ = message_send(conversation_id=conversation.pk, agent=agent, body="frozen in flight")
        entry = wait_for(
            lambda: (e := OutboxEntry.objects.get(message=message)).last_error and e, what="the unknown outcome"
        )
        assert entry.state == OutboxEntry.State.PENDING
        assert entry.attempt_started_at is not None  # still in doubt: the archive is asked first
        assert "did not confirm" in entry.last_error
        # The next try asks the archive, which cannot answer either: still in doubt, nothing sent.
        entry = wait_for(
            lambda: "archive could not be asked" in (e := OutboxEntry.objects.get(message=message)).last_error and e,
            what="the archive asked in vain",
        )
        assert entry.state == OutboxEntry.State.PENDING and entry.attempt_started_at is not None
        assert entry.provider_checks == 1
    finally:
        prosody_server.resume()
    xmpp_settings.XMPP_SEND_TIMEOUT_SECONDS = 10.0
    entry = wait_for(
        lambda: (e := OutboxEntry.objects.get(message=message)).state == OutboxEntry.State.DONE and e,
        timeout=40,
        what="settled",
    )
    assert entry.provider_checks == 2
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT
    wait_for(lambda: "frozen in flight" in bodies(customer), what="the reply at the customer")
    customer.send(conversation.inbox.address, "sync")
    assert bodies(customer).count("frozen in flight") == 1


def test_a_file_larger_than_the_server_takes_fails_with_the_reason_and_sends_nothing(conversation, customer, agent):
    big = b"\0" * (10 * 1024 * 1024 + 1)  # the private prosody takes 10 MiB
    message, _ = message_send(
        conversation_id=conversation.pk,
        agent=agent,
        body="the full log",
        attachments=[FileUpload(filename="log.bin", content_type="application/octet-stream", data=big)],
    )
    failed = wait_for(
        lambda: (m := Message.objects.get(pk=message.pk)).status == Message.Status.FAILED and m, what="failed"
    )
    assert failed.error_code == "xmpp_file_too_large"
    assert "log.bin" in failed.error_message
    customer.send(conversation.inbox.address, "sync")
    assert "the full log" not in bodies(customer)  # an upload that fails sends nothing
