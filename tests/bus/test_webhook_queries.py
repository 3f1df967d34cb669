"""The webhook hot path, pinned by query count (the numbers are the budget; lower is fine)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from tests.conftest import twilio_params

# Intake + processing in one request (tasks run eagerly), no agent online to assign.
FIRST_MESSAGE_QUERIES = 29  # new contact, identity and conversation
FOLLOW_UP_QUERIES = 22  # known customer, open conversation


@pytest.mark.django_db(transaction=True)
def test_first_message_of_a_new_customer_query_budget(post_twilio, agent, django_assert_max_num_queries):
    with django_assert_max_num_queries(FIRST_MESSAGE_QUERIES):
        response = post_twilio(**twilio_params(Body="one"))
    assert response.status_code == 200
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_follow_up_message_query_budget(post_twilio, agent, django_assert_max_num_queries):
    post_twilio(**twilio_params(Body="one"))
    with django_assert_max_num_queries(FOLLOW_UP_QUERIES):
        response = post_twilio(**twilio_params(Body="two"))
    assert response.status_code == 200
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_webhook_writes_one_row_before_it_answers(post_twilio, sms_inbox, django_capture_on_commit_callbacks):
    """Everything else happens after the answer (DESIGN.md §1.2): one INSERT into the journal."""
    with django_capture_on_commit_callbacks(execute=False) as queued, CaptureQueriesContext(connection) as ctx:
        response = post_twilio(**twilio_params())
    assert response.status_code == 200
    statements = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["INSERT"]
    assert 'INTO "bus_inboundentry"' in ctx.captured_queries[statements.index("INSERT")]["sql"]
    assert len(queued) == 1  # the processing task, queued for after commit
    assert InboundEntry.objects.get().state == InboundEntry.State.PENDING
    assert not Message.objects.exists()
