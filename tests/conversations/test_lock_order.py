"""Row locks and the event-order lock do not deadlock.

Events are appended under a transaction-scoped advisory lock (apps/bus/events.py), taken after a
service's row locks. Django's foreign keys on PostgreSQL are checked at commit (DEFERRABLE
INITIALLY DEFERRED), so a transaction that already holds the event lock still takes a KEY SHARE
lock on every row its new rows point at when it commits. Found in the console's browser tests:
an agent marking a conversation read (a new read marker pointing at the conversation, then the
event lock) while a colleague assigned it (the conversation locked, then waiting for the event
lock) deadlocked, and PostgreSQL killed one of the two with a 500. Row locks are therefore taken
FOR NO KEY UPDATE, which a foreign-key check does not wait for.

Since the unread tally (conversations migration 0012), a read marker's change also locks its
conversation FOR SHARE (its trigger reads the conversation's count), before the event lock: the
colleague's assignment then waits on the conversation row rather than on the event lock. Either
way, both must commit.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from apps.conversations.models import ReadMarker
from apps.conversations.services import conversation_mark_read, conversation_update
from tests.concurrency import run_together
from tests.requires import needs_postgres

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]


def _someone_waits_for_a_lock() -> bool:
    """The event lock, or a row (a transaction waits for another's transaction id to end)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype IN ('advisory', 'transactionid') AND NOT granted")
        return cursor.fetchone()[0] > 0


def test_marking_read_while_a_colleague_assigns_commits_both(receive_sms, agent, other_agent):
    message = receive_sms(Body="Where is my parcel?")
    conversation_id = message.conversation_id
    marked = threading.Event()
    assigning = threading.Event()

    def mark_read() -> int:
        # Holds the event lock (its event is appended) with the read marker's foreign-key check
        # still pending, until the colleague's assignment waits for it (or for the conversation
        # the marker's trigger holds FOR SHARE).
        with transaction.atomic():
            seq = conversation_mark_read(agent_id=other_agent.pk, conversation_id=conversation_id)
            marked.set()
            assert assigning.wait(timeout=10)
            deadline = time.monotonic() + 10
            while not _someone_waits_for_a_lock():
                assert time.monotonic() < deadline, "the assignment never waited for the read's locks"
                time.sleep(0.02)
        return seq

    def assign() -> None:
        assert marked.wait(timeout=10)
        assigning.set()
        conversation_update(conversation_id=conversation_id, assignee_id=agent.pk, by=agent)

    seq, _ = run_together(mark_read, assign)

    assert seq == message.seq
    assert ReadMarker.objects.get(agent=other_agent, conversation_id=conversation_id).last_read_seq == seq
    message.conversation.refresh_from_db()
    assert message.conversation.assignee_id == agent.pk
