"""apps.core.pg_scans: "the first N matches of a pattern" read from the trigram index, never by a
sequential scan that stops at the N-th match (its cost and its rows depend on where the scan
starts; issue 14's first-name-prefix search: 5 ms or 333 ms)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.api.selectors import contact_search
from apps.contacts.models import Contact, Identity
from apps.core.pg_scans import index_scans
from tests.factories import ConversationFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres]


def _seqscan() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_inside_a_callers_transaction_the_callers_setting_comes_back():
    assert _seqscan() == "on"
    with index_scans():
        assert _seqscan() == "off"
    assert _seqscan() == "on"


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_setting_ends_with_its_own_transaction():
    assert not connection.in_atomic_block
    with index_scans():
        assert connection.in_atomic_block
        assert _seqscan() == "off"
    assert not connection.in_atomic_block
    assert _seqscan() == "on"


def _plan(queryset) -> str:  # type: ignore[no-untyped-def]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_a_common_fragment_is_read_from_the_trigram_index_not_by_a_scan_that_stops_at_the_nth():
    contacts = Contact.objects.bulk_create(Contact(name=f"Customer {i}") for i in range(4000))
    Identity.objects.bulk_create(
        Identity(contact=c, kind="email", address=f"{'lena' if i % 2 else 'omar'}.{i}@example.com")
        for i, c in enumerate(contacts)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_identity")
    first = Identity.objects.filter(address__icontains="len").values("contact_id")[:500]
    # Half the table matches: the planner would stop a sequential scan at the 500th match ...
    assert "Seq Scan on contacts_identity" in _plan(first)
    with index_scans():
        plan = _plan(first)
    # ... and reads the trigram index (contacts migration 0004) instead.
    assert "Seq Scan" not in plan
    assert "identity_address_trgm_idx" in plan


@pytest.mark.django_db(transaction=True)
def test_the_contact_search_reads_its_identity_matches_without_sequential_scans(agent, sms_inbox):
    contact = Contact.objects.create(name="Helena Park")
    Identity.objects.create(contact=contact, kind="email", address="helena@example.com")
    ConversationFactory(inbox=sms_inbox, contact=contact)
    with CaptureQueriesContext(connection) as ctx:
        assert [c.pk for c in contact_search(agent=agent, q="len")] == [contact.pk]
    statements = [q["sql"] for q in ctx.captured_queries]
    identity_side = [i for i, sql in enumerate(statements) if "= ANY(ARRAY(" in sql and "contacts_identity" in sql]
    assert len(identity_side) == 1, statements
    assert "set_config('enable_seqscan', 'off', true)" in statements[identity_side[0] - 1]
    assert _seqscan() == "on"  # and not after it


@pytest.mark.django_db(transaction=True)
def test_a_fragment_too_short_for_a_trigram_keeps_the_scan_that_stops(agent, sms_inbox):
    """Two characters have no trigram: the trigram index would return every row for them ("an":
    all 1.2M identities, 970 ms), so their statement is left to the planner."""
    with index_scans("an"):
        assert _seqscan() == "on"
        assert not connection.in_atomic_block
    with index_scans("ana", "4155"):
        assert _seqscan() == "off"
    contact = Contact.objects.create(name="Ana Park")
    Identity.objects.create(contact=contact, kind="email", address="ana@example.com")
    ConversationFactory(inbox=sms_inbox, contact=contact)
    for q, turned_off in (("an", False), ("ana", True), ("4-1", False), ("(41)", False), ("41 5", True)):
        with CaptureQueriesContext(connection) as ctx:
            contact_search(agent=agent, q=q)
        assert any("set_config('enable_seqscan'" in (s["sql"] or "") for s in ctx.captured_queries) == turned_off, q
