"""Mentions and direct messages in: from the notifications API into the journal, stored once by
status id, threaded by reply chain, the sender known by a stable id whatever its handle."""

from __future__ import annotations

import json

import pytest

from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.gateways.mastodon.intake import notification_accept
from tests.mastodon.conftest import address

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_a_direct_message_becomes_a_message_from_the_accounts_stable_id(mastodon_server, md_account, take):
    mastodon_server.post_mention("@support my order #123?")
    [message] = take()
    assert message.body == "@support my order #123?"
    assert message.direction == Message.Direction.INBOUND
    identity = message.identity
    assert (identity.kind, identity.address) == ("mastodon", address("109", mastodon_server))
    assert identity.display == "@jane@example.social"
    assert identity.verified
    details = message.meta["mastodon"]
    assert details["visibility"] == "direct"
    assert details["acct"] == "jane@example.social"
    assert details["known_customer"] is False
    assert message.provider_id == details["status_id"]


def test_the_same_status_from_the_stream_and_the_backfill_is_stored_once(mastodon_server, md_account, take):
    notification = mastodon_server.post_mention("hello")
    assert notification_accept(md_account, notification) is True  # as the stream delivers it
    assert notification_accept(md_account, notification) is False  # the stream again (a replay)
    take()  # and the backfill reads it too
    assert InboundEntry.objects.filter(source=md_account.source).count() == 1
    assert Message.objects.filter(channel="mastodon").count() == 1


def test_the_backfill_reads_from_its_cursor_and_keeps_it_as_a_string(mastodon_server, md_account, take):
    first = [mastodon_server.post_mention(f"m{i}") for i in range(3)]
    assert [m.body for m in take()] == ["m0", "m1", "m2"]  # in the order they were posted
    md_account.refresh_from_db()
    assert md_account.notification_cursor == first[-1]["id"]
    mastodon_server.post_mention("m3")
    mastodon_server.post_mention("m4")
    assert [m.body for m in take()] == ["m3", "m4"]
    last = mastodon_server.calls_to("GET", "/api/v1/notifications")[-2]
    assert last.params["min_id"] == [first[-1]["id"]]
    assert last.params["types[]"] == ["mention"]
    assert last.headers["authorization"] == "Bearer desk-token-0123456789"
    assert take() == []
    md_account.refresh_from_db()  # what the instance said of the rate limit is kept
    assert md_account.ratelimit_remaining == mastodon_server.ratelimit_remaining


def test_other_notification_types_are_not_taken(md_account):
    assert notification_accept(md_account, {"id": "5", "type": "favourite", "status": {"id": "9"}}) is False
    assert InboundEntry.objects.count() == 0


def test_a_mention_without_a_status_is_kept_and_flagged(md_account):
    notification_accept(md_account, {"id": "6", "type": "mention"})
    [entry] = InboundEntry.objects.all()
    assert entry.state == InboundEntry.State.FLAGGED
    assert "no status id" in entry.flag_reason
    assert json.loads(bytes(entry.raw)) == {"id": "6", "type": "mention"}


def test_a_reply_to_the_desks_reply_joins_the_same_conversation_even_when_resolved(
    mastodon_server, md_account, md_agent, take
):
    from apps.conversations.services import message_send

    first = mastodon_server.post_mention("@support the app crashes", visibility="public")
    [inbound] = take()
    reply, _ = message_send(conversation_id=inbound.conversation_id, agent=md_agent, body="Which version?")
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    Conversation.objects.filter(pk=inbound.conversation_id).update(status=Conversation.Status.RESOLVED)
    mastodon_server.post_mention("@support 4.2", visibility="public", in_reply_to_id=reply.provider_id)
    [answer] = take()
    assert answer.conversation_id == inbound.conversation_id
    assert Conversation.objects.get(pk=inbound.conversation_id).status == Conversation.Status.OPEN
    assert first["status"]["id"] == inbound.provider_id


def test_a_new_handle_on_the_same_account_is_the_same_identity(mastodon_server, md_account, take):
    mastodon_server.post_mention("hi", acct="jane@example.social")
    [first] = take()
    mastodon_server.post_mention("hi again", acct="jane.doe@new.example")  # she moved her handle
    [second] = take()
    assert first.identity_id == second.identity_id
    identity = Identity.objects.get(pk=first.identity_id)
    assert identity.display == "@jane.doe@new.example"
    assert Identity.objects.filter(kind="mastodon").count() == 1


def test_media_of_a_status_is_fetched_and_stored(mastodon_server, md_account, take):
    url = mastodon_server.add_file("shot.png", "image/png", PNG)
    mastodon_server.post_mention("see the screenshot", media=[{"id": "77", "type": "image", "url": url}])
    [message] = take()
    [attachment] = message.attachments.all()
    attachment.refresh_from_db()
    assert attachment.file.read() == PNG
    assert attachment.content_type == "image/png"


def test_run_mastodon_once_introduces_the_account_and_backfills(mastodon_server, md_inbox):
    from io import StringIO

    from django.core.management import call_command

    from apps.gateways.mastodon.models import MastodonAccount
    from tests.mastodon.conftest import TOKEN

    account = MastodonAccount.objects.create(inbox=md_inbox, instance_url=mastodon_server.base_url, access_token=TOKEN)
    mastodon_server.max_characters = 1000
    mastodon_server.post_mention("while the desk was down")
    out = StringIO()
    call_command("run_mastodon", "--once", stdout=out)
    assert "1 new mention(s)" in out.getvalue()
    account.refresh_from_db()
    assert (account.account_id, account.username, account.max_characters) == ("1", "support", 1000)
    assert account.streaming_url == mastodon_server.base_url
    assert Message.objects.filter(channel="mastodon").count() == 1


def test_media_on_another_host_at_a_private_address_is_refused(mastodon_server, md_account, take):
    # A remote original at localhost (another port than the instance's): never fetched.
    mastodon_server.post_mention(
        "look", media=[{"id": "78", "type": "image", "url": None, "remote_url": "http://localhost:9/secret.png"}]
    )
    [message] = take()
    [attachment] = message.attachments.all()
    attachment.refresh_from_db()
    assert not attachment.file
    assert "not a public address" in attachment.error
