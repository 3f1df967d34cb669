"""contact_merge / contact_unmerge: what moves, what is recorded, what comes back."""

from __future__ import annotations

import pytest

from apps.contacts.models import Contact, ContactMerge, Identity
from apps.contacts.services import contact_merge, contact_unmerge
from apps.conversations.models import Conversation
from apps.core.errors import Conflict
from tests.factories import ContactFactory, ConversationFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)


def customer(inbox, *, verified: bool = True) -> Contact:
    contact = ContactFactory()
    IdentityFactory(contact=contact, verified=verified)
    ConversationFactory(inbox=inbox, contact=contact)
    return contact


def test_undo_returns_exactly_what_the_merge_moved(sms_inbox, agent):
    survivor, merged = customer(sms_inbox), customer(sms_inbox)
    moved_identity = Identity.objects.get(contact=merged)
    moved_conversation = Conversation.objects.get(contact=merged)

    merge = contact_merge(survivor_id=survivor.pk, merged_id=merged.pk, by=agent)
    # Life goes on with the survivor before the undo.
    later_identity = IdentityFactory(contact=survivor, kind="email", address="later@example.com")
    later_conversation = ConversationFactory(inbox=sms_inbox, contact=survivor)
    contact_unmerge(merge_id=merge.pk, by=agent)

    assert set(Identity.objects.filter(contact=merged).values_list("id", flat=True)) == {moved_identity.pk}
    assert set(Conversation.objects.filter(contact=merged).values_list("id", flat=True)) == {moved_conversation.pk}
    assert later_identity.pk in Identity.objects.filter(contact=survivor).values_list("id", flat=True)
    assert Conversation.objects.get(pk=later_conversation.pk).contact_id == survivor.pk
    assert Contact.objects.get(pk=merged.pk).merged_into_id is None
    with pytest.raises(Conflict) as excinfo:
        contact_unmerge(merge_id=merge.pk, by=agent)
    assert excinfo.value.code == "already_undone"


def test_a_merged_contact_cannot_be_merged_again_until_undone(sms_inbox, agent):
    a, b, c = customer(sms_inbox), customer(sms_inbox), customer(sms_inbox)
    merge = contact_merge(survivor_id=a.pk, merged_id=b.pk, by=agent)
    with pytest.raises(Conflict) as excinfo:
        contact_merge(survivor_id=c.pk, merged_id=b.pk, by=agent)
    assert excinfo.value.code == "already_merged"
    contact_unmerge(merge_id=merge.pk, by=agent)
    contact_merge(survivor_id=c.pk, merged_id=b.pk, by=agent)
    assert ContactMerge.objects.filter(undone_at__isnull=True).get().survivor_id == c.pk


def test_unverified_contacts_are_not_merged(sms_inbox, agent):
    verified, claimed = customer(sms_inbox), customer(sms_inbox, verified=False)
    with pytest.raises(Conflict) as excinfo:
        contact_merge(survivor_id=verified.pk, merged_id=claimed.pk, by=agent)
    assert excinfo.value.code == "unverified_identity"
    assert Identity.objects.filter(contact=claimed).count() == 1
    assert not ContactMerge.objects.exists()
