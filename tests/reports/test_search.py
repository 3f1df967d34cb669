"""Full-text search: matching, filters, visibility and paging.

The same tests run on PostgreSQL (GIN full-text) and on the SQLite fallback (substrings):
    .venv/bin/python -m pytest tests/reports -q
    DATABASE_URL=sqlite:////tmp/reports-test.sqlite3 .venv/bin/python -m pytest tests/reports -q
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.conversations.models import Conversation, Message
from apps.reports.search import parse_query, snippet
from tests.factories import AgentFactory, ContactFactory, ConversationFactory, IdentityFactory, InboxFactory

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(agent: Agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def desk():
    sms = InboxFactory(name="SMS", channel="sms")
    mail = InboxFactory(name="Mail", channel="email", address="help@example.com")
    secret = InboxFactory(name="Legal", channel="email", address="legal@example.com")
    ana = AgentFactory(username="ana", display_name="Ana")
    ben = AgentFactory(username="ben", display_name="Ben")
    for inbox in (sms, mail):
        inbox.members.add(ana, ben)
    secret.members.add(ben)
    seq = {"n": 0}

    def conv(inbox, status="open", assignee=None, contact_name="Customer", notes=""):
        contact = ContactFactory(name=contact_name, notes=notes)
        return ConversationFactory(inbox=inbox, status=status, assignee=assignee, contact=contact)

    def msg(c, body, kind="message", when=None, direction="in"):
        c.last_seq += 1
        Conversation.objects.filter(pk=c.pk).update(last_seq=c.last_seq)
        seq["n"] += 1
        return Message.objects.create(
            conversation=c,
            seq=c.last_seq,
            inbox=c.inbox,
            direction=direction,
            kind=kind,
            body=body,
            status="received" if direction == "in" else "",
            created_at=when or dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC) + dt.timedelta(minutes=seq["n"]),
        )

    c1 = conv(sms, assignee=ana, contact_name="Zoë Lindqvist")
    c2 = conv(mail, status="resolved", assignee=ben, contact_name="Omar Haddad", notes="prefers the callback number")
    c3 = conv(secret, assignee=ben, contact_name="Hidden Person")
    m = {
        "refund": msg(c1, "Hello, I want a refund for order #100234 please"),
        "café": msg(c1, "Le café était froid, remboursement svp", when=dt.datetime(2026, 2, 10, tzinfo=dt.UTC)),
        "note": msg(c1, "Checked the refund policy: approved", kind="note", direction="out"),
        "mail": msg(c2, "My invoice shows a double charge, refund it"),
        "phrase": msg(c2, "the charge double was reversed"),
        "secret": msg(c3, "Confidential refund settlement"),
        "activity": msg(c1, "Ana resolved this refund", kind="activity", direction="out"),
    }
    IdentityFactory(contact=c1.contact, kind="email", address="zoe.lindqvist@example.org")
    return {"ana": ana, "ben": ben, "c1": c1, "c2": c2, "c3": c3, "m": m}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["messages"]]


def test_search_finds_messages_and_notes_newest_first_with_snippets(desk):
    m = desk["m"]
    response = client_for(desk["ana"]).get("/api/v1/search", {"q": "refund"})

    # Not the other inbox's message (ana is not a member), not the timeline's activity.
    assert ids(response) == [m["mail"].pk, m["note"].pk, m["refund"].pk]
    first = response.json()["messages"][0]
    assert first["conversation"] == desk["c2"].pk
    assert first["kind"] == "message"
    assert first["contact"]["name"] == "Omar Haddad"
    assert first["inbox"]["channel"] == "email"
    text = first["snippet"]["text"]
    assert [text[a:b] for a, b in first["snippet"]["highlights"]] == ["refund"]
    assert response.json()["messages"][1]["kind"] == "note"


def test_every_word_must_match_and_the_last_is_a_prefix(desk):
    m, ana = desk["m"], client_for(desk["ana"])

    assert ids(ana.get("/api/v1/search", {"q": "refund order"})) == [m["refund"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "invoi"})) == [m["mail"].pk]  # typing…
    assert ids(ana.get("/api/v1/search", {"q": "100234"})) == [m["refund"].pk]  # an order number
    assert ids(ana.get("/api/v1/search", {"q": "REFUND -invoice"})) == [m["note"].pk, m["refund"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "refund nothing-like-this"})) == []


def test_a_quoted_phrase_matches_in_order(desk):
    m, ana = desk["m"], client_for(desk["ana"])

    assert ids(ana.get("/api/v1/search", {"q": '"double charge"'})) == [m["mail"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "double charge"})) == [m["phrase"].pk, m["mail"].pk]


def test_words_in_any_script_and_accents(desk):
    m, ana = desk["m"], client_for(desk["ana"])

    assert ids(ana.get("/api/v1/search", {"q": "café"})) == [m["café"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "Remboursement "})) == [m["café"].pk]


def test_filters_channel_status_agent_and_dates(desk):
    m, ana = desk["m"], client_for(desk["ana"])

    assert ids(ana.get("/api/v1/search", {"q": "refund", "channel": "sms"})) == [m["note"].pk, m["refund"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "refund", "status": "resolved"})) == [m["mail"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "refund", "agent": desk["ben"].pk})) == [m["mail"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "refund", "types": "notes"})) == [m["note"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "café", "from": "2026-02-11"})) == []
    assert ids(ana.get("/api/v1/search", {"q": "café", "from": "2026-02-10", "to": "2026-02-10"})) == [m["café"].pk]
    assert ids(ana.get("/api/v1/search", {"q": "refund", "to": "2026-02-28"})) == []


def test_an_agent_finds_only_what_they_may_see(desk):
    m = desk["m"]

    assert m["secret"].pk not in ids(client_for(desk["ana"]).get("/api/v1/search", {"q": "confidential"}))
    assert ids(client_for(desk["ben"]).get("/api/v1/search", {"q": "confidential"})) == [m["secret"].pk]
    hidden = client_for(desk["ana"]).get("/api/v1/search", {"q": "hidden person", "types": "contacts"})
    assert hidden.json()["contacts"] == []
    assert APIClient().get("/api/v1/search", {"q": "refund"}).status_code in (401, 403)


def test_contacts_by_name_notes_and_address(desk):
    ana = client_for(desk["ana"])
    c1, c2 = desk["c1"].contact, desk["c2"].contact

    def contacts(q):
        return [c["id"] for c in ana.get("/api/v1/search", {"q": q, "types": "contacts"}).json()["contacts"]]

    assert contacts("zoë") == [c1.pk]
    assert contacts("callback") == [c2.pk]  # in the contact's notes
    assert contacts("lindqvist@example") == [c1.pk]  # part of an address
    assert contacts(
        "haddad",
    ) == [c2.pk]
    assert ana.get("/api/v1/search", {"q": "haddad", "types": "contacts", "status": "open"}).json()["contacts"] == []


def test_pages_walk_back_by_id(desk):
    m, ana = desk["m"], client_for(desk["ana"])

    first = ana.get("/api/v1/search", {"q": "refund", "limit": 2}).json()
    assert [r["id"] for r in first["messages"]] == [m["mail"].pk, m["note"].pk]
    assert first["next"] == m["note"].pk
    second = ana.get("/api/v1/search", {"q": "refund", "limit": 2, "before": first["next"]}).json()
    assert [r["id"] for r in second["messages"]] == [m["refund"].pk]
    assert second["next"] is None


def test_empty_or_bad_queries(desk):
    ana = client_for(desk["ana"])

    assert ana.get("/api/v1/search", {"q": "  !! "}).json() == {
        "query": {"words": [], "phrases": [], "excluded": []},
        "messages": [],
        "next": None,
        "contacts": [],
    }
    assert ana.get("/api/v1/search", {"q": "x" * 201}).json()["error"]["code"] == "invalid_q"
    assert ana.get("/api/v1/search", {"q": "a", "status": "lost"}).json()["error"]["code"] == "invalid_status"
    assert ana.get("/api/v1/search", {"q": "a", "types": "files"}).json()["error"]["code"] == "invalid_types"


def test_parse_query():
    parsed = parse_query('refund "double charge" -spam invoi')
    assert parsed.words == ("refund",)
    assert parsed.phrases == (("double", "charge"),)
    assert parsed.excluded == ("spam",)
    assert parsed.prefix == "invoi"
    assert parsed.tsquery() == "'refund' & ('double' <-> 'charge') & 'invoi':* & !'spam'"
    assert parse_query("refund ").prefix is None  # a finished word
    assert (
        parse_query("it's o'clock; DROP TABLE").tsquery() == "'drop' & ('it' <-> 's') & ('o' <-> 'clock') & 'table':*"
    )


def test_snippet_centres_on_the_first_match():
    body = "word " * 40 + "the refund arrived " + "tail " * 60
    parsed = parse_query("refund ")
    result = snippet(body, parsed)
    assert result["text"].startswith("…")
    start, end = result["highlights"][0]
    assert result["text"][start:end] == "refund"
    assert len(result["text"]) <= 202
    if connection.vendor == "postgresql":
        assert snippet("refunds are slow", parse_query("refund"))["highlights"] == [[0, 7]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the rare/common strategy is PostgreSQL's")
def test_common_and_rare_words_find_the_same_messages_either_way(desk, monkeypatch):
    from apps.reports import search

    m, ana = desk["m"], client_for(desk["ana"])
    expected = [m["mail"].pk, m["note"].pk, m["refund"].pk]
    monkeypatch.setattr(search, "_lexeme_frequencies", lambda: {})  # nothing sampled: rare, GIN
    assert search._rare(parse_query("refund ")) is True
    assert ids(ana.get("/api/v1/search", {"q": "refund"})) == expected
    monkeypatch.setattr(search, "_lexeme_frequencies", lambda: {"refund": 0.2, "refunds": 0.1})
    assert search._rare(parse_query("refund ")) is False  # common: newest first by the key
    assert search._rare(parse_query("refu")) is False  # a prefix sums its words
    assert search._rare(parse_query("refund invoice ")) is True  # the rarest word decides
    assert ids(ana.get("/api/v1/search", {"q": "refund"})) == expected
