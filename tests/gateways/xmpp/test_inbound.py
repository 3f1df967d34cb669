"""Messages in: a customer writes to the desk's XMPP account on a real prosody; run_xmpp takes
them into the journal and a conversation, once, whether they come live, from the offline
store or from the archive."""

from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.conversations.models import Attachment, Conversation, Message
from apps.gateways.xmpp.models import XmppAccount
from tests.gateways.xmpp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def inbound(inbox) -> list[Message]:
    return list(Message.objects.filter(inbox=inbox, direction=Message.Direction.INBOUND).order_by("id"))


def test_a_chat_message_reaches_a_conversation_of_the_customer(desk, xmpp_inbox, customer):
    desk.start().connected()
    customer.send(xmpp_inbox.address, "Hi, my order #123 is late", receipt=True, msg_id="m-1")

    [message] = wait_for(lambda: inbound(xmpp_inbox), what="the stored message")
    assert message.body == "Hi, my order #123 is late"
    assert message.channel == "xmpp"
    entry = InboundEntry.objects.get()
    assert entry.source == f"xmpp:{xmpp_inbox.address}"
    assert entry.state == InboundEntry.State.DONE
    assert message.provider_id == entry.provider_message_id  # the server's stanza-id
    assert message.provider_id not in ("", "m-1")
    identity = Identity.objects.get(kind="xmpp")
    assert identity.address == customer.jid
    assert identity.verified
    conversation = Conversation.objects.get()
    assert conversation.inbox == xmpp_inbox and conversation.contact_id == identity.contact_id
    # The desk answered the receipt request once the message was durable.
    wait_for(lambda: "m-1" in customer.receipts, what="the desk's receipt")


def test_live_offline_and_archived_copies_are_one_message(desk, xmpp_inbox, customer):
    """Written while the desk is away: prosody's offline store delivers it at login and the
    catch-up reads it from the archive too; both carry the same stanza-id."""
    customer.send(xmpp_inbox.address, "while you were away 1")
    customer.send(xmpp_inbox.address, "while you were away 2")
    account_runner = desk.start().connected()

    messages = wait_for(lambda: len(inbound(xmpp_inbox)) == 2 and inbound(xmpp_inbox), what="two messages")
    assert [m.body for m in messages] == ["while you were away 1", "while you were away 2"]
    assert InboundEntry.objects.count() == 2
    # Both copies of each came (offline delivery and the archive) and were one entry each.
    wait_for(lambda: account_runner.taken == 4, what="the offline copies")
    assert account_runner.duplicates == 2
    account = XmppAccount.objects.get()
    assert account.archive_cursor == messages[-1].provider_id
    # Later live messages are stored once too.
    customer.send(xmpp_inbox.address, "and now live")
    wait_for(lambda: len(inbound(xmpp_inbox)) == 3, what="the live message")
    assert InboundEntry.objects.count() == 3


def test_catch_up_after_the_desk_was_offline(desk, xmpp_inbox, customer):
    desk.start().connected()
    customer.send(xmpp_inbox.address, "first")
    wait_for(lambda: len(inbound(xmpp_inbox)) == 1, what="the first message")
    wait_for(lambda: XmppAccount.objects.get().archive_cursor == inbound(xmpp_inbox)[0].provider_id, what="cursor")
    desk.stop()

    for n in range(3):
        customer.send(xmpp_inbox.address, f"missed {n}")
    desk.start().connected()

    wait_for(lambda: len(inbound(xmpp_inbox)) == 4, what="the missed messages")
    assert [m.body for m in inbound(xmpp_inbox)] == ["first", "missed 0", "missed 1", "missed 2"]
    assert InboundEntry.objects.count() == 4
    assert Conversation.objects.count() == 1


def test_reconnects_after_the_server_restarts(desk, xmpp_inbox, customer, prosody_server):
    desk.start().connected()
    customer.send(xmpp_inbox.address, "before the restart")
    wait_for(lambda: len(inbound(xmpp_inbox)) == 1, what="the first message")

    prosody_server.restart()
    desk.connected(sessions=2)
    customer.close()
    from tests.gateways.xmpp.conftest import Customer

    again = Customer(customer.jid, customer.password, prosody_server.c2s_port).connect()
    try:
        again.send(xmpp_inbox.address, "after the restart")
        wait_for(lambda: len(inbound(xmpp_inbox)) == 2, what="the message after the restart")
    finally:
        again.close()
    assert [m.body for m in inbound(xmpp_inbox)] == ["before the restart", "after the restart"]


def test_a_file_shared_as_a_link_is_stored_with_the_message(desk, xmpp_inbox, customer):
    desk.start().connected()
    url = customer.upload("photo.png", b"\x89PNG\r\n\x1a\n" + b"x" * 100, "image/png")
    customer.send(xmpp_inbox.address, url, oob=url)

    [message] = wait_for(lambda: inbound(xmpp_inbox), what="the message")
    assert message.body == url
    attachment = wait_for(lambda: Attachment.objects.filter(message=message).exclude(file="").first(), what="file")
    assert attachment.source_url == url
    assert attachment.content_type == "image/png"
    assert attachment.size == 108
    with attachment.file.open("rb") as handle:
        assert handle.read().startswith(b"\x89PNG")
