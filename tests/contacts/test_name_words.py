"""The words of contacts' names (contacts migration 0007, PostgreSQL): kept by a trigger through
every change of a name, and a search of one word answers what the trigram way answers."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.api import selectors
from apps.contacts.models import Contact, ContactNameWord, NameWord
from apps.contacts.services import contact_merge, contact_unmerge
from tests.factories import AgentFactory, ContactFactory, ConversationFactory, IdentityFactory, InboxFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]


def words_of(contact: Contact) -> set[tuple[str, str]]:
    return set(ContactNameWord.objects.filter(contact_id=contact.pk).values_list("word", "name"))


def test_the_trigger_keeps_the_words_through_rename_merge_undo_and_delete():
    inbox = InboxFactory()
    kept = ContactFactory(name="Ana  María\tdel Mar")
    assert words_of(kept) == {(w, "Ana  María\tdel Mar") for w in ("ANA", "MARÍA", "DEL", "MAR")}
    Contact.objects.filter(pk=kept.pk).update(name="Ana Lopez")
    assert words_of(kept) == {("ANA", "Ana Lopez"), ("LOPEZ", "Ana Lopez")}
    before = set(ContactNameWord.objects.filter(contact_id=kept.pk).values_list("pk", flat=True))
    Contact.objects.get(pk=kept.pk).save()  # every field written, the name unchanged
    assert set(ContactNameWord.objects.filter(contact_id=kept.pk).values_list("pk", flat=True)) == before
    other = ContactFactory(name="Ana Lopez Lopez")  # a word twice in a name: once
    assert words_of(other) == {("ANA", "Ana Lopez Lopez"), ("LOPEZ", "Ana Lopez Lopez")}

    for contact, address in ((kept, "+14155550101"), (other, "+14155550102")):
        IdentityFactory(contact=contact, kind="phone", address=address, verified=True)
        ConversationFactory(inbox=inbox, contact=contact)
    merge = contact_merge(survivor_id=kept.pk, merged_id=other.pk)
    assert words_of(other) == set()  # merged away: not found by name any more
    contact_unmerge(merge_id=merge.pk)
    assert words_of(other) == {("ANA", "Ana Lopez Lopez"), ("LOPEZ", "Ana Lopez Lopez")}

    brief = ContactFactory(name="Brief Visitor")
    assert words_of(brief)
    Contact.objects.filter(pk=brief.pk).delete()
    assert words_of(brief) == set()
    assert ContactFactory(name="").pk  # no words, no row
    vocabulary = list(NameWord.objects.values_list("word", flat=True))
    assert sorted(set(vocabulary)) == sorted(vocabulary)  # each word once (one writer at a time)
    assert {"ANA", "MARÍA", "DEL", "MAR", "LOPEZ"} <= set(vocabulary)


NAMES = [
    "Lena Kowalski",
    "Elena Kowalska",
    "Helena Lenard",
    "Allen O'Leary",
    "Jean-Luc Allende",
    "Zoë Åberg",
    "Strauß Ölen",
    "lena lena",
    "50% Lena",
    "Mr. Len_a",
    "Kofi",
    "",
]


@pytest.mark.parametrize(
    "q",
    [
        "len",
        "LENA",
        "ena",
        "kowalsk",
        "'le",
        "-luc",
        "zoË",
        "ßö",
        "Öle",
        "0%",
        "_a",
        "r.",
        "zz",
        "a k",
        "na Ko",
        "Kofi",
    ],
)
def test_a_search_by_word_answers_what_the_trigram_way_answers(q, monkeypatch):
    agent = AgentFactory()
    inbox, elsewhere = InboxFactory(), InboxFactory()
    inbox.members.add(agent)
    for i in range(3):  # each name three times, one of them in an inbox the agent cannot see
        for name in NAMES:
            ConversationFactory(inbox=elsewhere if i == 2 else inbox, contact=ContactFactory(name=name))
    with CaptureQueriesContext(connection) as by_word:
        found = selectors.contact_search(agent=agent, q=q, limit=5)
    monkeypatch.setattr(selectors, "SEARCH_NAME_WORDS", 0)  # more words than that: the trigram way
    expected = selectors.contact_search(agent=agent, q=q, limit=5)
    assert [(c.name, c.pk) for c in found] == [(c.name, c.pk) for c in expected]
    assert found or q in ("zz", "ßö")  # "Strauß Ölen" has a space between them
    words_used = any("contacts_nameword" in query["sql"] for query in by_word.captured_queries)
    assert words_used == (" " not in q)  # a query of one word went the new way


def test_a_word_search_falls_back_when_too_few_of_the_earliest_are_visible(monkeypatch):
    agent = AgentFactory()
    inbox, elsewhere = InboxFactory(), InboxFactory()
    inbox.members.add(agent)
    for i in range(30):  # the earliest by name are in an inbox the agent cannot see
        ConversationFactory(inbox=elsewhere, contact=ContactFactory(name=f"Alena {i:02d}"))
    visible = [ContactFactory(name=f"Zelena {i:02d}") for i in range(3)]
    for contact in visible:
        ConversationFactory(inbox=inbox, contact=contact)
    monkeypatch.setattr(selectors, "SEARCH_NAME_FIRST", 2)  # the first pass reads 2 x limit
    assert [c.pk for c in selectors.contact_search(agent=agent, q="lena", limit=3)] == [c.pk for c in visible]


def test_the_migration_copies_the_contacts_there_were():
    kept = ContactFactory(name="Quinn Abbott")
    gone = ContactFactory(name="Quinn Merged")
    survivor = ContactFactory(name="Survivor")
    Contact.objects.filter(pk=gone.pk).update(merged_into=survivor)
    ContactNameWord.objects.all().delete()
    NameWord.objects.all().delete()
    migration = importlib.import_module("apps.contacts.migrations.0007_name_words")
    with connection.schema_editor(atomic=False) as editor:
        migration.sync_and_copy(None, editor)
    assert words_of(kept) == {("QUINN", "Quinn Abbott"), ("ABBOTT", "Quinn Abbott")}
    assert words_of(gone) == set()
    assert sorted(NameWord.objects.values_list("word", flat=True)) == ["ABBOTT", "QUINN", "SURVIVOR"]
    ContactFactory(name="Quinn Novak")  # the trigger is (still) in place
    assert set(NameWord.objects.values_list("word", flat=True)) == {"ABBOTT", "NOVAK", "QUINN", "SURVIVOR"}
