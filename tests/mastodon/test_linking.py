"""Linking a Mastodon account to a customer, proven by a one-time code sent privately: expiry,
single use, rate limits, a public code refused and flagged, merge and undo, handle changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.contacts.models import Contact, ContactMerge, Identity
from apps.contacts.services import contact_unmerge, identity_resolve
from apps.conversations.models import Message
from apps.core.errors import Conflict
from apps.linking.models import LinkAttempt, LinkCode
from apps.linking.services import RateLimited, _hash, codes_in, link_start
from tests.factories import ConversationFactory
from tests.mastodon.conftest import address

pytestmark = pytest.mark.django_db(transaction=True)


def _activities(message: Message) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=message.conversation_id, kind=Message.Kind.ACTIVITY)
        .order_by("seq")
        .values_list("body", flat=True)
    )


def test_a_code_is_issued_once_and_only_its_hash_is_kept(customer):
    issued = link_start(contact_id=customer.pk)
    assert codes_in(f"here: {issued.code}!") == [issued.code]
    assert _hash(issued.code) == _hash(issued.code.lower().replace("-", "")) == LinkCode.objects.get().code_hash
    assert len(issued.code) == len("LINK-ABCD-EFGH")
    link = LinkCode.objects.get()
    assert issued.code not in link.code_hash and issued.code.replace("-", "") not in link.code_hash
    assert link.state == LinkCode.State.PENDING
    assert dt.timedelta(minutes=9) < link.expires_at - timezone.now() <= dt.timedelta(minutes=10)


def test_a_code_sent_privately_links_the_account_and_joins_the_timelines(mastodon_server, md_account, customer, take):
    issued = link_start(contact_id=customer.pk)
    mastodon_server.post_mention(f"@support {issued.code.lower()}", visibility="direct")  # typed in lower case
    [message] = take()
    identity = Identity.objects.get(kind="mastodon")
    assert identity.address == address("109", mastodon_server)
    assert identity.contact_id == customer.pk and identity.verified
    assert message.conversation.contact_id == customer.pk  # the DM's conversation joined her timeline
    link = LinkCode.objects.get()
    assert link.state == LinkCode.State.USED and link.identity_id == identity.pk
    merge = ContactMerge.objects.get()
    assert (merge.survivor_id, link.merge_id) == (customer.pk, merge.pk)
    assert any("proved it belongs to Jane Doe" in text for text in _activities(message))
    # Undo: the account and its conversation go back to a contact of their own.
    contact_unmerge(merge_id=merge.pk)
    identity.refresh_from_db()
    assert identity.contact_id == merge.merged_id != customer.pk
    assert Message.objects.get(pk=message.pk).conversation.contact_id == merge.merged_id


def test_a_code_is_single_use(mastodon_server, md_account, customer, take):
    issued = link_start(contact_id=customer.pk)
    mastodon_server.post_mention(issued.code, visibility="direct")
    take()
    mastodon_server.post_mention(issued.code, visibility="direct", account_id="222", acct="mallory@evil.example")
    [second] = take()
    mallory = Identity.objects.get(kind="mastodon", address=address("222", mastodon_server))
    assert mallory.contact_id != customer.pk
    assert any("not valid" in text for text in _activities(second))
    assert ContactMerge.objects.count() == 1


def test_an_expired_code_is_refused(mastodon_server, md_account, customer, take):
    issued = link_start(contact_id=customer.pk)
    LinkCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    mastodon_server.post_mention(issued.code, visibility="direct")
    [message] = take()
    assert message.identity.contact_id != customer.pk
    assert LinkCode.objects.get().state == LinkCode.State.PENDING  # never used
    assert ContactMerge.objects.count() == 0
    assert LinkAttempt.objects.get().ok is False


def test_a_newer_code_cancels_the_older_one(mastodon_server, md_account, customer, take):
    old = link_start(contact_id=customer.pk)
    link_start(contact_id=customer.pk)
    mastodon_server.post_mention(old.code, visibility="direct")
    [message] = take()
    assert message.identity.contact_id != customer.pk


def test_issuing_codes_is_rate_limited_per_contact(customer, settings):
    settings.LINK_STARTS_PER_HOUR = 3
    for _ in range(3):
        link_start(contact_id=customer.pk)
    with pytest.raises(RateLimited):
        link_start(contact_id=customer.pk)
    LinkCode.objects.update(created_at=timezone.now() - dt.timedelta(hours=2))
    link_start(contact_id=customer.pk)  # an hour later it works again


def test_wrong_codes_are_rate_limited_per_account(mastodon_server, md_account, customer, take, settings):
    settings.LINK_FAILURES_PER_HOUR = 2
    issued = link_start(contact_id=customer.pk)
    for guess in ("LINK-AAAA-AAAA", "LINK-BBBB-BBBB"):
        mastodon_server.post_mention(guess, visibility="direct")
    take()
    mastodon_server.post_mention(issued.code, visibility="direct")  # the right one, too late
    [message] = take()
    assert message.identity.contact_id != customer.pk
    assert any("too many wrong codes" in text for text in _activities(message))
    assert LinkCode.objects.get().state == LinkCode.State.PENDING


def test_a_code_posted_publicly_is_refused_cancelled_and_flagged(mastodon_server, md_account, customer, take):
    issued = link_start(contact_id=customer.pk)
    mastodon_server.post_mention(f"@support {issued.code}", visibility="public")
    [message] = take()
    assert message.identity.contact_id != customer.pk
    assert message.meta["mastodon"]["link_code_public"] is True
    assert LinkCode.objects.get().state == LinkCode.State.EXPOSED
    assert any("posted publicly" in text for text in _activities(message))
    # Sending the same code privately afterwards does not work either: anyone could have read it.
    mastodon_server.post_mention(issued.code, visibility="direct")
    [again] = take()
    assert again.identity.contact_id != customer.pk
    assert ContactMerge.objects.count() == 0


def test_a_contact_without_a_verified_identity_cannot_start_a_link(db):
    contact = Contact.objects.create(name="Walk-in")
    Identity.objects.create(contact=contact, kind="email", address="typed@example.com", verified=False)
    with pytest.raises(Conflict) as refused:
        link_start(contact_id=contact.pk)
    assert refused.value.code == "unverified_identity"


def test_after_a_handle_change_the_linked_account_stays_linked(mastodon_server, md_account, customer, take):
    issued = link_start(contact_id=customer.pk)
    mastodon_server.post_mention(issued.code, visibility="direct")
    take()
    mastodon_server.post_mention("@support still me", visibility="public", acct="jane.d@moved.example")
    [message] = take()
    identity = Identity.objects.get(kind="mastodon")
    assert identity.display == "@jane.d@moved.example"
    assert message.identity_id == identity.pk and identity.contact_id == customer.pk
    assert message.meta["mastodon"]["known_customer"] is True  # agents see she is a customer


def test_a_public_mention_from_a_stranger_is_not_a_known_customer(mastodon_server, md_account, customer, take):
    mastodon_server.post_mention("@support your shop is down", visibility="public", account_id="333", acct="bob")
    [message] = take()
    assert message.meta["mastodon"]["known_customer"] is False


def test_the_api_starts_a_link_and_lists_linked_accounts(mastodon_server, md_account, md_agent, customer, take, client):
    client.force_login(md_agent)
    # Agents see contacts with a conversation in one of their inboxes.
    assert client.post(f"/api/v1/contacts/{customer.pk}/linked-accounts").status_code == 404
    ConversationFactory(inbox=md_account.inbox, contact=customer)
    response = client.post(f"/api/v1/contacts/{customer.pk}/linked-accounts", {}, content_type="application/json")
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    assert response.json()["send_to"] == ["@support@127.0.0.1"]
    listed = client.get(f"/api/v1/contacts/{customer.pk}/linked-accounts").json()
    assert listed["accounts"] == [] and len(listed["pending"]) == 1 and "code" not in listed["pending"][0]
    mastodon_server.post_mention(code, visibility="direct")
    take()
    listed = client.get(f"/api/v1/contacts/{customer.pk}/linked-accounts").json()
    [account] = listed["accounts"]
    assert account["handle"] == "@jane@example.social"
    assert account["stable_id"] == address("109", mastodon_server)
    assert account["proof"] == "code" and account["merge"] == ContactMerge.objects.get().pk
    assert listed["pending"] == []
    undo = client.post(f"/api/v1/contact-merges/{account['merge']}/undo")
    assert undo.status_code == 200, undo.content
    assert client.get(f"/api/v1/contacts/{customer.pk}/linked-accounts").json()["accounts"] == []


def test_identity_resolve_keeps_one_row_per_stable_id(db):
    a = identity_resolve(kind="mastodon", address="109@desk.example", display="@jane@example.social", verified=True)
    b = identity_resolve(kind="mastodon", address="109@desk.example", display="@other@example.social", verified=True)
    assert a.pk == b.pk


def test_the_api_answers_refusals_with_their_codes(md_account, md_agent, customer, client, settings):
    client.force_login(md_agent)
    walk_in = Contact.objects.create(name="Walk-in")
    Identity.objects.create(contact=walk_in, kind="email", address="typed@example.com", verified=False)
    for contact in (walk_in, customer):
        ConversationFactory(inbox=md_account.inbox, contact=contact)
    refused = client.post(f"/api/v1/contacts/{walk_in.pk}/linked-accounts", {}, content_type="application/json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "unverified_identity")
    settings.LINK_STARTS_PER_HOUR = 1
    assert client.post(f"/api/v1/contacts/{customer.pk}/linked-accounts").status_code == 201
    limited = client.post(f"/api/v1/contacts/{customer.pk}/linked-accounts")
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
    assert LinkCode.objects.count() == 1
