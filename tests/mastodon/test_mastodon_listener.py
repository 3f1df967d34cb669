"""The streaming listener against the local instance: live mentions through the stream, and the
backfill after a reconnect that picks up what was posted while the stream was down."""

from __future__ import annotations

import threading
import time

import pytest

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.mastodon.listener import listen_loop, stream_claim
from apps.gateways.mastodon.models import MastodonAccount

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def listening(md_account, mastodon_server):
    stop = threading.Event()
    thread = threading.Thread(target=listen_loop, args=(md_account.pk, stop), kwargs={"owner": "test-listener"})
    thread.start()
    assert _wait(lambda: mastodon_server.connected_streams() == 1), "the listener never connected"
    yield stop
    stop.set()
    mastodon_server.drop_streams()
    thread.join(timeout=10)
    assert not thread.is_alive()


def _bodies() -> list[str]:
    return list(Message.objects.filter(channel="mastodon").order_by("id").values_list("body", flat=True))


def test_a_mention_posted_while_listening_arrives_through_the_stream(mastodon_server, md_account, listening):
    mastodon_server.post_mention("@support live one")
    assert _wait(lambda: _bodies() == ["@support live one"])
    assert _wait(lambda: MastodonAccount.objects.get(pk=md_account.pk).last_event_at is not None)
    account = MastodonAccount.objects.get(pk=md_account.pk)
    assert account.stream_connected_at is not None
    assert account.stream_owner == "test-listener"


def test_mentions_missed_while_the_stream_was_down_are_backfilled_on_reconnect(mastodon_server, md_account, listening):
    mastodon_server.post_mention("before")
    assert _wait(lambda: _bodies() == ["before"])
    mastodon_server.stream_mentions = False  # these never reach a stream
    mastodon_server.post_mention("while away 1")
    mastodon_server.post_mention("while away 2")
    mastodon_server.drop_streams()  # the instance restarts: the listener reconnects and backfills
    assert _wait(lambda: _bodies() == ["before", "while away 1", "while away 2"])
    assert InboundEntry.objects.count() == 3  # the one seen by stream and backfill is one entry


def test_a_second_listener_does_not_take_a_held_account(md_account, listening):
    assert stream_claim(md_account.pk, "someone-else") is False


def test_an_event_is_taken_as_soon_as_it_arrives_not_when_more_bytes_follow(mastodon_server, md_account):
    # No heartbeat behind the event: a reader that waits for a full buffer would sit on it.
    mastodon_server.heartbeat = 30.0
    stop = threading.Event()
    thread = threading.Thread(target=listen_loop, args=(md_account.pk, stop), kwargs={"owner": "quiet"})
    thread.start()
    try:
        assert _wait(lambda: mastodon_server.connected_streams() == 1)
        time.sleep(0.5)  # past the backfills of the connection
        backfills = len(mastodon_server.calls_to("GET", "/api/v1/notifications"))
        mastodon_server.post_mention("@support no heartbeat behind me")
        assert _wait(lambda: _bodies() == ["@support no heartbeat behind me"], timeout=3.0)
        assert InboundEntry.objects.count() == 1
        # It came through the stream, not through a backfill.
        assert len(mastodon_server.calls_to("GET", "/api/v1/notifications")) == backfills
    finally:
        stop.set()
        mastodon_server.drop_streams()
        thread.join(timeout=10)
        mastodon_server.heartbeat = 0.2


def test_the_sweep_backfills_an_account_no_listener_has_read_lately(mastodon_server, md_account, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.gateways.mastodon.listener import backfill_all

    mastodon_server.post_mention("nobody was listening")
    assert backfill_all() == 1  # never backfilled
    assert _bodies() == ["nobody was listening"]
    mastodon_server.post_mention("a listener is on it")
    assert backfill_all() == 0  # backfilled just now: left to the listener
    MastodonAccount.objects.update(
        last_backfill_at=timezone.now() - timedelta(seconds=2 * settings.MASTODON_BACKFILL_SECONDS + 1)
    )
    assert backfill_all() == 1
