"""A new customer's first message: contact and verified identity written together, in one
statement on PostgreSQL (the bus's batch of one message pays it at light load)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.contacts.models import Contact, Identity
from apps.contacts.services import Sender, identities_resolve_verified
from tests.factories import IdentityFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db(transaction=True)]


def test_a_new_customer_is_one_contact_and_one_verified_identity_written_in_one_statement():
    created: set[int] = set()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        resolved = identities_resolve_verified(
            [Sender(kind="phone", address="+14155550123", display="+1 415 555 0123", name="Ada")],
            created_contacts=created,
        )
    identity = resolved[("phone", "+14155550123")]
    stored = Identity.objects.select_related("contact").get()
    assert (stored.pk, stored.contact_id) == (identity.pk, identity.contact_id)
    assert (stored.kind, stored.address, stored.display, stored.verified, stored.opted_out) == (
        "phone",
        "+14155550123",
        "+1 415 555 0123",
        True,
        False,
    )
    assert stored.contact.name == "Ada" and stored.contact.created_at == identity.contact.created_at
    assert stored.created_at == identity.created_at
    assert created == {stored.contact_id}
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == 1, inserts
    assert not any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)


def test_an_identity_written_meanwhile_without_the_lock_is_used_and_no_contact_is_left_behind():
    """The advisory lock keeps the bus's writers apart; a writer that does not take it (an admin
    import, say) may still have written the identity between the locked read and the insert."""
    from apps.contacts import services

    other = IdentityFactory(kind="phone", address="+14155550124", verified=False)
    contacts_before = Contact.objects.count()
    with transaction.atomic():
        assert services._new_customer_create(Sender(kind="phone", address="+14155550124")) is None
        # The batch goes on in the same transaction: nothing was aborted.
        resolved = identities_resolve_verified([Sender(kind="phone", address="+14155550124")])
    assert resolved[("phone", "+14155550124")].pk == other.pk
    assert Contact.objects.count() == contacts_before
    assert Identity.objects.get(pk=other.pk).verified
