"""The contact panel: edit, other conversations, merge (verified identities only) and undo."""

from __future__ import annotations

import pytest
from django.db.models import Prefetch
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.api import selectors
from apps.api.serializers import ItemContactSerializer
from apps.bus.models import Event
from apps.contacts.models import Contact, ContactMerge, Identity
from apps.conversations.models import Conversation
from tests.conftest import twilio_params
from tests.factories import ContactFactory, ConversationFactory, IdentityFactory, InboxFactory

pytestmark = pytest.mark.django_db(transaction=True)


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


@pytest.fixture
def two_customers(post_twilio, agent):
    """Two customers who texted ana's inbox (verified phone identities), two messages each."""
    for sender, body in [
        ("+14155550001", "a1"),
        ("+14155550002", "b1"),
        ("+14155550001", "a2"),
        ("+14155550002", "b2"),
    ]:
        assert post_twilio(**twilio_params(From=sender, Body=body)).status_code == 200
    first = Identity.objects.get(address="+14155550001").contact
    second = Identity.objects.get(address="+14155550002").contact
    return first, second


def timeline(api, contact_id: int) -> list[tuple]:
    body = api.get(f"/api/v1/contacts/{contact_id}/timeline").json()
    return [(m["id"], m["conversation"], m["body"]) for m in body.get("results", [])]


def test_editing_name_and_notes_tells_the_inboxes_that_show_the_contact(api, agent, two_customers, sms_inbox):
    first, _ = two_customers
    other_inbox = InboxFactory()
    ConversationFactory(inbox=other_inbox, contact=first)
    start = newest_event_id()

    response = api.patch(
        f"/api/v1/contacts/{first.pk}", {"name": "Maria  Lopez", "notes": "Prefers SMS"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["notes"]) == ("Maria Lopez", "Prefers SMS")
    first.refresh_from_db()
    assert (first.name, first.notes) == ("Maria Lopez", "Prefers SMS")
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [(e.type, e.inbox_id, e.agent_id) for e in events] == [
        ("contact.updated", sms_inbox.pk, None),
        ("contact.updated", other_inbox.pk, None),
    ]
    assert events[0].data == {
        "id": first.pk,
        "name": "Maria Lopez",
        "notes": "Prefers SMS",
        "merged_into": None,
        "changes": ["name", "notes"],
    }
    # Nothing changed: no event.
    start = newest_event_id()
    api.patch(f"/api/v1/contacts/{first.pk}", {"name": "Maria Lopez"}, format="json")
    assert Event.objects.filter(id__gt=start).count() == 0


def test_contacts_of_other_inboxes_cannot_be_edited(api, agent):
    stranger = ConversationFactory(inbox=InboxFactory()).contact
    response = api.patch(f"/api/v1/contacts/{stranger.pk}", {"name": "X"}, format="json")
    assert response.status_code == 404
    assert Contact.objects.get(pk=stranger.pk).name != "X"


def test_contact_conversations_lists_items_newest_first(api, agent, two_customers, sms_inbox):
    first, _ = two_customers
    conversation = Conversation.objects.get(contact=first)
    conversation.status = "resolved"
    conversation.save()
    newer = ConversationFactory(inbox=sms_inbox, contact=first, last_activity_at=timezone.now())
    ConversationFactory(inbox=InboxFactory(), contact=first)  # not ana's inbox: not listed

    body = api.get(f"/api/v1/contacts/{first.pk}/conversations").json()

    assert [c["id"] for c in body["results"]] == [newer.pk, conversation.pk]
    assert body["results"][1]["last_message"]["body"] == "a2"
    assert body["results"][0]["contact"]["id"] == first.pk


def test_merge_then_undo_restores_both_timelines(api, agent, two_customers, sms_inbox):
    first, second = two_customers
    before_first, before_second = timeline(api, first.pk), timeline(api, second.pk)
    assert [b for _, _, b in before_first] == ["a1", "a2"]
    assert [b for _, _, b in before_second] == ["b1", "b2"]
    second_identities = list(Identity.objects.filter(contact=second).values_list("id", flat=True))
    second_conversations = list(Conversation.objects.filter(contact=second).values_list("id", flat=True))
    start = newest_event_id()

    response = api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": second.pk}, format="json")

    assert response.status_code == 200
    merge = ContactMerge.objects.get()
    assert response.json()["merge"] == merge.pk
    contact = response.json()["contact"]
    assert contact["id"] == first.pk
    assert sorted(i["address"] for i in contact["identities"]) == ["+14155550001", "+14155550002"]
    assert (merge.survivor_id, merge.merged_id, merge.merged_by_id) == (first.pk, second.pk, agent.pk)
    assert (merge.identity_ids, merge.conversation_ids) == (second_identities, second_conversations)
    second.refresh_from_db()
    assert second.merged_into_id == first.pk
    assert sorted(b for _, _, b in timeline(api, first.pk)) == ["a1", "a2", "b1", "b2"]
    assert api.get(f"/api/v1/contacts/{second.pk}").status_code == 404  # nothing of it left to see
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [(e.type, e.data.get("id"), e.data.get("changes")) for e in events] == [
        ("contact.updated", second.pk, ["merged_into"]),
        ("contact.updated", first.pk, ["identities", "conversations"]),
        ("conversation.updated", second_conversations[0], ["contact"]),
    ]
    assert events[2].data["contact"] == first.pk
    # A new message from the merged number now lands with the survivor.
    assert Identity.objects.get(address="+14155550002").contact_id == first.pk

    start = newest_event_id()
    response = api.post(f"/api/v1/contact-merges/{merge.pk}/undo", format="json")

    assert response.status_code == 200
    assert response.json()["merge"] == merge.pk
    assert [i["address"] for i in response.json()["merged"]["identities"]] == ["+14155550002"]
    assert [i["address"] for i in response.json()["survivor"]["identities"]] == ["+14155550001"]
    assert timeline(api, first.pk) == before_first
    assert timeline(api, second.pk) == before_second
    second.refresh_from_db()
    merge.refresh_from_db()
    assert second.merged_into_id is None
    assert merge.undone_at is not None
    assert list(Identity.objects.filter(contact=second).values_list("id", flat=True)) == second_identities
    assert list(Conversation.objects.filter(contact=second).values_list("id", flat=True)) == second_conversations
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [(e.type, e.data.get("id")) for e in events] == [
        ("contact.updated", first.pk),
        ("contact.updated", second.pk),
        ("conversation.updated", second_conversations[0]),
    ]
    assert events[2].data["contact"] == second.pk

    again = api.post(f"/api/v1/contact-merges/{merge.pk}/undo", format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_undone")
    assert timeline(api, second.pk) == before_second


def test_merge_needs_a_verified_identity_on_both_sides(api, agent, two_customers, sms_inbox):
    first, _ = two_customers
    claimed = ContactFactory()
    IdentityFactory(contact=claimed, kind="email", address="typed@example.com", verified=False)
    ConversationFactory(inbox=sms_inbox, contact=claimed)
    start = newest_event_id()

    for survivor, other in ((first, claimed), (claimed, first)):
        response = api.post(f"/api/v1/contacts/{survivor.pk}/merge", {"other": other.pk}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (409, "unverified_identity")

    assert not ContactMerge.objects.exists()
    assert Identity.objects.get(address="typed@example.com").contact_id == claimed.pk
    assert Contact.objects.get(pk=claimed.pk).merged_into_id is None
    assert Event.objects.filter(id__gt=start).count() == 0


def test_merge_of_a_contact_the_agent_cannot_see_is_404(api, agent, two_customers):
    first, _ = two_customers
    stranger = ConversationFactory(inbox=InboxFactory()).contact
    IdentityFactory(contact=stranger)
    response = api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": stranger.pk}, format="json")
    assert response.status_code == 404
    assert not ContactMerge.objects.exists()


def test_merge_into_itself_and_twice(api, agent, two_customers):
    first, second = two_customers
    response = api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": first.pk}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_merge")
    assert api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": second.pk}, format="json").status_code == 200
    # The merged contact has nothing left to see or merge.
    assert api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": second.pk}, format="json").status_code == 404
    assert ContactMerge.objects.count() == 1


def test_undo_of_an_unknown_or_invisible_merge_is_404(api, agent):
    assert api.post("/api/v1/contact-merges/999/undo", format="json").status_code == 404


# --- search: finding the other contact to merge --------------------------------------------


def search(api, q: str) -> list[dict]:
    response = api.get("/api/v1/contacts", {"q": q})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_search_by_name_address_and_phone_typed_with_spaces(api, agent, two_customers, sms_inbox):
    first, second = two_customers
    Contact.objects.filter(pk=first.pk).update(name="Maria López")
    Contact.objects.filter(pk=second.pk).update(name="Mario Rossi")
    email = ContactFactory(name="Jo")
    IdentityFactory(contact=email, kind="email", address="jo.smith@example.com", verified=False)
    ConversationFactory(inbox=sms_inbox, contact=email)

    assert [c["id"] for c in search(api, "mari")] == [first.pk, second.pk]  # by name, case-insensitive
    assert [c["id"] for c in search(api, "MARIA")] == [first.pk]
    assert [c["id"] for c in search(api, "SMITH@exam")] == [email.pk]
    for typed in ("415 555 0002", "415-555-0002", "+1 (415) 555-0002", "5550002"):
        assert [c["id"] for c in search(api, typed)] == [second.pk], typed
    (row,) = search(api, "5550002")
    assert row["name"] == "Mario Rossi"
    assert [(i["kind"], i["address"], i["verified"]) for i in row["identities"]] == [("phone", "+14155550002", True)]
    assert search(api, "nobody") == []


def test_search_with_spaces_finds_an_address_with_spaces(api, agent, sms_inbox):
    """A query with whitespace looks among the addresses that have some (on PostgreSQL their own
    partial index, contacts migration 0008): a site's user id may have spaces, and is found."""
    site_user = ContactFactory(name="Someone")
    IdentityFactory(contact=site_user, kind="user_id", address="Member 42 Gold", verified=True)
    ConversationFactory(inbox=sms_inbox, contact=site_user)
    named = ContactFactory(name="Lena Kowalski")
    IdentityFactory(contact=named, kind="email", address="lena.kowalski@example.com", verified=False)
    ConversationFactory(inbox=sms_inbox, contact=named)

    assert [c["id"] for c in search(api, "member 42")] == [site_user.pk]
    assert [c["id"] for c in search(api, "42 gold")] == [site_user.pk]
    assert [c["id"] for c in search(api, "lena kowalski")] == [named.pk]  # by name
    assert [c["id"] for c in search(api, "lena.kowalski")] == [named.pk]  # by address
    assert search(api, "lena  kowalski") == []  # two spaces: in neither


def test_search_answers_what_the_item_contact_serializer_writes(api, agent, sms_inbox):
    """The search's contacts are written as plain dicts (apps.api.items.contact_items_data); the
    schema is ItemContactSerializer's, and both write the same JSON."""
    plain = ContactFactory(name="Quill None")  # no identity at all
    many = ContactFactory(name="Quill Many")
    IdentityFactory(contact=many, kind="phone", address="+14155550123", verified=True)
    IdentityFactory(contact=many, kind="email", address="quill@example.com", display="Q. Many", verified=False)
    IdentityFactory(contact=many, kind="whatsapp", address="+14155550123", opted_out=True)
    one = ContactFactory(name="Quill Zoë 東京")
    IdentityFactory(contact=one, kind="email", address="zoe@example.com")
    for contact in (plain, many, one):
        ConversationFactory(inbox=sms_inbox, contact=contact)
    response = api.get("/api/v1/contacts", {"q": "quill"})
    assert response.status_code == 200
    contacts = Contact.objects.filter(pk__in=[many.pk, plain.pk, one.pk]).prefetch_related(
        Prefetch("identities", queryset=Identity.objects.order_by("id"))
    )
    expected = ItemContactSerializer(sorted(contacts, key=lambda c: (c.name, c.pk)), many=True).data
    assert response.content == JSONRenderer().render({"results": expected})
    assert [len(c["identities"]) for c in response.json()["results"]] == [3, 0, 1]


def test_search_sees_only_the_agents_inboxes_and_no_merged_contacts(api, agent, two_customers, sms_inbox):
    first, second = two_customers
    stranger = ConversationFactory(inbox=InboxFactory(), contact=ContactFactory(name="Stranger Mari")).contact
    IdentityFactory(contact=stranger, kind="phone", address="+14155550003")
    assert stranger.pk not in [c["id"] for c in search(api, "mari")]
    assert search(api, "555 0003") == []

    assert api.post(f"/api/v1/contacts/{first.pk}/merge", {"other": second.pk}, format="json").status_code == 200
    # The merged number now belongs to the survivor; the merged contact itself is not offered.
    assert [c["id"] for c in search(api, "555 0002")] == [first.pk]
    ConversationFactory(inbox=sms_inbox, contact=second)  # even if it still had a conversation
    assert second.pk not in [c["id"] for c in search(api, "+1415555")]


def test_search_needs_two_characters(api, agent, two_customers):
    for q in ("", "a", " b "):
        response = api.get("/api/v1/contacts", {"q": q})
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_q")
    assert api.get("/api/v1/contacts").status_code == 400


def test_search_is_at_most_20_in_a_constant_number_of_queries(api, agent, sms_inbox, django_assert_max_num_queries):
    for i in range(3):
        contact = ContactFactory(name=f"Bulk {i:02d}")
        IdentityFactory(contact=contact, kind="phone", address=f"+1415555{i:04d}")
        IdentityFactory(contact=contact, kind="email", address=f"bulk{i}@example.com")
        ConversationFactory(inbox=sms_inbox, contact=contact)
    api.get("/api/v1/contacts", {"q": "bulk"})  # warm: session, user
    with django_assert_max_num_queries(6) as few:
        assert len(search(api, "bulk")) == 3
    for i in range(3, 30):
        contact = ContactFactory(name=f"Bulk {i:02d}")
        IdentityFactory(contact=contact, kind="phone", address=f"+1415555{i:04d}")
        IdentityFactory(contact=contact, kind="email", address=f"bulk{i}@example.com")
        ConversationFactory(inbox=sms_inbox, contact=contact)
        ConversationFactory(inbox=sms_inbox, contact=contact)
    with django_assert_max_num_queries(len(few.captured_queries)):
        rows = search(api, "bulk")
    assert [r["name"] for r in rows] == [f"Bulk {i:02d}" for i in range(20)]
    assert all(len(r["identities"]) == 2 for r in rows)


@pytest.mark.parametrize("words_cap", [200, 0], ids=["by word", "by trigram"])
@pytest.mark.parametrize(
    ("matches_cap", "first_per_result"),
    [
        (50_000, 4),  # the earliest matches by name hold the 20 visible ones
        (50_000, 1),  # they do not (5 of the first 20 are not visible): all matches sorted
        (3, 4),  # more matches than SEARCH_NAME_MATCHES: the walk by name
    ],
)
def test_name_search_is_the_first_20_by_name_among_visible_unmerged_matches(
    api, agent, sms_inbox, monkeypatch, matches_cap, first_per_result, words_cap
):
    """Issue 14: the name matches are sorted by name before the visibility test, however they sort
    in the whole desk (a first name's prefix matches names at the end of the alphabet) — and with
    more matches than SEARCH_NAME_MATCHES the walk in name order answers the same. On PostgreSQL a
    query of one word is answered from the words of names (SEARCH_NAME_WORDS; 0: more words match
    than that, so the trigram way answers)."""
    monkeypatch.setattr(selectors, "SEARCH_NAME_MATCHES", matches_cap)
    monkeypatch.setattr(selectors, "SEARCH_NAME_FIRST", first_per_result)
    monkeypatch.setattr(selectors, "SEARCH_NAME_WORDS", words_cap)
    other_inbox = InboxFactory(name="Not ana's")
    for i in range(30):  # names before the matches: the walk passes them
        ConversationFactory(inbox=sms_inbox, contact=ContactFactory(name=f"Aaron {i:02d}"))
    expected = []
    for i in range(26):
        contact = ContactFactory(name=f"Zoe {i:02d}" if i % 2 else f"Ben Zoellner {i:02d}")
        if i % 5 == 0:  # not visible to ana: only a conversation in another inbox
            ConversationFactory(inbox=other_inbox, contact=contact)
            continue
        if i == 7:  # merged away
            survivor = ContactFactory(name="Survivor")
            ConversationFactory(inbox=sms_inbox, contact=contact)
            Contact.objects.filter(pk=contact.pk).update(merged_into=survivor)
            continue
        ConversationFactory(inbox=sms_inbox, contact=contact)
        expected.append((contact.name, contact.pk))
    rows = search(api, "zoe")
    assert [(r["name"], r["id"]) for r in rows] == sorted(expected)[:20]
    assert [r["name"] for r in search(api, "ZOE 2")] == ["Zoe 21", "Zoe 23"]


def test_name_search_takes_like_wildcards_literally(api, agent, sms_inbox):
    for name in ("50% off", "500 off", "a_b", "axb"):
        ConversationFactory(inbox=sms_inbox, contact=ContactFactory(name=name))
    assert [r["name"] for r in search(api, "0%")] == ["50% off"]
    assert [r["name"] for r in search(api, "a_b")] == ["a_b"]
