"""The console's conversation list: /me, views, filters, waiting sort, keyset pages, item shape."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.assignment.models import AgentPresence
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Label, Message, ReadMarker
from apps.conversations.services import conversation_mark_read
from tests.conftest import twilio_params
from tests.factories import ContactFactory, ConversationFactory, IdentityFactory, InboxFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def make(inbox, *, minutes: int, waiting: int | None = None, **fields) -> Conversation:
    """A conversation last active at T0 + minutes, waiting since T0 + waiting minutes (or not)."""
    contact = ContactFactory()
    phone = IdentityFactory(contact=contact)
    return ConversationFactory(
        inbox=inbox,
        contact=contact,
        last_identity=phone,
        last_activity_at=T0 + dt.timedelta(minutes=minutes),
        waiting_since=None if waiting is None else T0 + dt.timedelta(minutes=waiting),
        **fields,
    )


def ids(body: dict) -> list[int]:
    return [c["id"] for c in body["results"]]


def test_me(api, agent, sms_inbox, team):
    other_team = TeamFactory(name="Billing")
    other_team.members.add(agent)
    InboxFactory(name="Not mine")
    AgentPresence.objects.create(agent=agent, status="away")

    response = api.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": agent.pk,
        "username": "ana",
        "name": "Ana",
        "role": "agent",
        "presence": "away",
        "inboxes": [{"id": sms_inbox.pk, "name": "Main SMS", "channel": "sms"}],
        "teams": [{"id": team.pk, "name": "Support"}, {"id": other_team.pk, "name": "Billing"}],
        "permissions": {"reassign": False, "reports": False, "manage": False},
    }


def test_me_needs_authentication(client):
    assert client.get("/api/v1/me").status_code in (401, 403)


def test_item_shape(api, agent, other_agent, post_twilio):
    post_twilio(**twilio_params(From="+14155552671", Body="My router is down"))
    post_twilio(**twilio_params(From="+14155552671", Body="still down"))
    conversation = Conversation.objects.get()
    conversation.labels.add(Label.objects.create(name="vip"))
    conversation_mark_read(agent_id=agent.pk, conversation_id=conversation.pk, seq=1)
    conversation_mark_read(agent_id=other_agent.pk, conversation_id=conversation.pk, seq=2)
    identity = Identity.objects.get()
    message = Message.objects.get(seq=2)

    item = api.get("/api/v1/conversations").json()["results"][0]
    detail = api.get(f"/api/v1/conversations/{conversation.pk}").json()

    assert item == detail
    assert item == {
        "id": conversation.pk,
        "inbox": conversation.inbox_id,
        "contact": {
            "id": conversation.contact_id,
            "name": "",
            "identities": [
                {
                    "id": identity.pk,
                    "kind": "phone",
                    "address": "+14155552671",
                    "display": "+14155552671",
                    "verified": True,
                    "opted_out": False,
                }
            ],
        },
        "status": "open",
        "assignee": None,
        "team": conversation.team_id,
        "priority": 0,
        "labels": ["vip"],
        "last_activity_at": item["last_activity_at"],
        "waiting_since": item["waiting_since"],
        "snoozed_until": None,
        "last_seq": 2,
        "unread": 1,  # ana read up to seq 1; ben's marker does not count for her
        "last_message": {
            "body": "still down",
            "direction": "in",
            "kind": "message",
            "channel": "phone",
            "created_at": message.created_at.isoformat(),
        },
        "created_at": item["created_at"],
        "noise": False,
        "triage_reason": "No rule matched (no model rolled out yet)",
        "sla": None,  # no SLA policy applies
    }


def test_last_message_follows_replies_and_notes_but_not_activities(api, agent, conversation):
    url = f"/api/v1/conversations/{conversation.pk}"
    api.post(f"{url}/messages", {"body": "Restart it", "client_id": "c1"}, format="json")
    assert api.get(url).json()["last_message"]["body"] == "Restart it"
    assert api.get(url).json()["last_message"]["direction"] == "out"
    api.post(f"{url}/messages", {"body": "asked to restart", "client_id": "c2", "kind": "note"}, format="json")
    api.patch(url, {"priority": 3}, format="json")  # an activity entry
    last = api.get(url).json()["last_message"]
    assert (last["body"], last["kind"], last["direction"], last["channel"]) == ("asked to restart", "note", "out", "")


def test_unread_counts_customer_messages_after_the_read_marker(api, agent, post_twilio):
    for body in ("one", "two", "three"):
        post_twilio(**twilio_params(Body=body))
    conversation = Conversation.objects.get()
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "hi", "client_id": "x"}, format="json")
    assert api.get(f"/api/v1/conversations/{conversation.pk}").json()["unread"] == 3

    response = api.post(f"/api/v1/conversations/{conversation.pk}/read", {"seq": 2}, format="json")
    assert (response.status_code, response.json()) == (200, {"seq": 2})
    assert api.get(f"/api/v1/conversations/{conversation.pk}").json()["unread"] == 1

    response = api.post(f"/api/v1/conversations/{conversation.pk}/read", {}, format="json")
    assert response.json() == {"seq": 4}
    assert api.get("/api/v1/conversations").json()["results"][0]["unread"] == 0
    # Never backwards.
    assert api.post(f"/api/v1/conversations/{conversation.pk}/read", {"seq": 1}, format="json").json() == {"seq": 4}
    assert ReadMarker.objects.get(agent=agent).last_read_seq == 4


def test_read_of_an_invisible_conversation_is_404(api, agent):
    elsewhere = make(InboxFactory(), minutes=0)
    response = api.post(f"/api/v1/conversations/{elsewhere.pk}/read", {}, format="json")
    assert response.status_code == 404
    assert not ReadMarker.objects.exists()


def test_views(api, agent, other_agent, sms_inbox, team):
    other_team = TeamFactory(name="Billing")
    mine = make(sms_inbox, minutes=4, assignee=agent, team=team)
    bens = make(sms_inbox, minutes=3, assignee=other_agent, team=other_team)
    nobodys = make(sms_inbox, minutes=2, team=team)
    make(InboxFactory(), minutes=5)  # another inbox: never listed for ana

    assert ids(api.get("/api/v1/conversations").json()) == [mine.pk, bens.pk, nobodys.pk]
    assert ids(api.get("/api/v1/conversations?view=all").json()) == [mine.pk, bens.pk, nobodys.pk]
    assert ids(api.get("/api/v1/conversations?view=mine").json()) == [mine.pk]
    assert ids(api.get("/api/v1/conversations?view=unassigned").json()) == [nobodys.pk]
    assert ids(api.get(f"/api/v1/conversations?view=team:{team.pk}").json()) == [mine.pk, nobodys.pk]
    assert ids(api.get(f"/api/v1/conversations?view=team:{other_team.pk}").json()) == [bens.pk]
    bad = api.get("/api/v1/conversations?view=everything")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_view")


def test_status_and_channel_filters(api, agent, sms_inbox):
    sms = make(sms_inbox, minutes=3)
    whatsapp = make(sms_inbox, minutes=2)
    whatsapp.last_identity = IdentityFactory(contact=whatsapp.contact, kind="whatsapp")
    whatsapp.last_channel = "whatsapp"  # as the receive path keeps it
    whatsapp.status = "pending"
    whatsapp.save()
    resolved = make(sms_inbox, minutes=1, status="resolved")

    assert ids(api.get("/api/v1/conversations?status=open").json()) == [sms.pk]
    assert ids(api.get("/api/v1/conversations?status=pending").json()) == [whatsapp.pk]
    assert ids(api.get("/api/v1/conversations?status=resolved").json()) == [resolved.pk]
    assert ids(api.get("/api/v1/conversations?channel=whatsapp").json()) == [whatsapp.pk]
    assert ids(api.get("/api/v1/conversations?channel=phone").json()) == [sms.pk, resolved.pk]
    assert ids(api.get("/api/v1/conversations?channel=email").json()) == []
    assert ids(api.get("/api/v1/conversations?channel=sms&status=open").json()) == [sms.pk]
    for query, code in (("status=gone", "invalid_status"), ("channel=pigeon", "invalid_channel")):
        response = api.get(f"/api/v1/conversations?{query}")
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_waiting_sort_puts_the_longest_wait_first_then_the_rest_by_activity(api, agent, sms_inbox):
    waited_2 = make(sms_inbox, minutes=50, waiting=2)
    waited_1 = make(sms_inbox, minutes=10, waiting=1)
    waited_3 = make(sms_inbox, minutes=60, waiting=3)
    quiet_old = make(sms_inbox, minutes=5)
    quiet_new = make(sms_inbox, minutes=70)
    expected = [waited_1.pk, waited_2.pk, waited_3.pk, quiet_new.pk, quiet_old.pk]

    assert ids(api.get("/api/v1/conversations?sort=waiting").json()) == expected
    # Every page size walks the same order, without repeats or gaps, across the two parts.
    for limit in (1, 2, 3, 4, 5):
        seen, cursor = [], None
        while True:
            url = f"/api/v1/conversations?sort=waiting&limit={limit}" + (f"&before={cursor}" if cursor else "")
            body = api.get(url).json()
            seen += ids(body)
            cursor = body["next"]
            if cursor is None:
                break
        assert seen == expected, limit
    assert ids(api.get("/api/v1/conversations?sort=recent").json()) == [
        quiet_new.pk,
        waited_3.pk,
        waited_2.pk,
        waited_1.pk,
        quiet_old.pk,
    ]


def test_cursors_are_url_safe_and_tied_to_their_sort(api, agent, sms_inbox):
    for n in range(3):
        make(sms_inbox, minutes=n, waiting=n)
    waiting_next = api.get("/api/v1/conversations?sort=waiting&limit=1").json()["next"]
    recent_next = api.get("/api/v1/conversations?limit=1").json()["next"]
    for cursor in (waiting_next, recent_next):
        assert cursor.replace("_", "").isalnum()
    for url in (
        f"/api/v1/conversations?sort=recent&before={waiting_next}",
        f"/api/v1/conversations?sort=waiting&before={recent_next}",
        "/api/v1/conversations?sort=waiting&before=w12x_3",
    ):
        response = api.get(url)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_cursor")
    response = api.get("/api/v1/conversations?sort=oldest")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_sort")


def test_recent_pages_with_equal_times_do_not_skip_or_repeat(api, agent, sms_inbox):
    same = [make(sms_inbox, minutes=1) for _ in range(5)]
    seen, cursor = [], None
    while True:
        body = api.get("/api/v1/conversations?limit=2" + (f"&before={cursor}" if cursor else "")).json()
        seen += ids(body)
        if not (cursor := body["next"]):
            break
    assert seen == sorted((c.pk for c in same), reverse=True)


def _fill(inbox, agent, n: int, start: int) -> None:
    for i in range(start, start + n):
        conversation = make(inbox, minutes=i, waiting=i if i % 2 else None, assignee=agent, last_seq=2)
        IdentityFactory(contact=conversation.contact, kind="email", address=f"c{conversation.pk}@example.com")
        conversation.labels.add(Label.objects.get_or_create(name=f"l{i % 3}")[0])
        for seq in (1, 2):
            Message.objects.create(
                conversation=conversation,
                seq=seq,
                inbox=inbox,
                direction="in",
                channel="phone",
                body=f"m{seq}",
                status="received",
                created_at=timezone.now(),
            )
        # As the receive path keeps it (these messages bypass it).
        Conversation.objects.filter(pk=conversation.pk).update(inbound_count=2)
        conversation_mark_read(agent_id=agent.pk, conversation_id=conversation.pk, seq=1)


@pytest.mark.parametrize(
    ("query", "budget"),
    [
        # conversations (unread joins the read marker), identities, labels; the token was read
        # by the warm-up request and is in the API token cache (apps/api/authentication.py)
        ("", 3),
        ("?view=mine&status=open&channel=phone", 3),
        # the waiting ones, the rest, identities, labels (the token cached)
        ("?sort=waiting", 4),
    ],
)
def test_list_query_count_does_not_grow_with_rows(api, agent, sms_inbox, query, budget, django_assert_max_num_queries):
    _fill(sms_inbox, agent, 3, 0)
    assert api.get("/api/v1/labels").status_code == 200  # warm: the token cache
    with CaptureQueriesContext(connection) as small:
        body = api.get(f"/api/v1/conversations{query}").json()
    assert len(body["results"]) == 3
    _fill(sms_inbox, agent, 40, 3)
    with django_assert_max_num_queries(budget):
        body = api.get(f"/api/v1/conversations{query}").json()
    assert len(body["results"]) == 43
    assert {(len(c["contact"]["identities"]), len(c["labels"]), c["unread"]) for c in body["results"]} == {(2, 1, 1)}
    with CaptureQueriesContext(connection) as large:
        api.get(f"/api/v1/conversations{query}")
    assert len(large) == len(small)


def test_detail_of_an_invisible_conversation_is_404(api, agent):
    elsewhere = make(InboxFactory(), minutes=0)
    assert api.get(f"/api/v1/conversations/{elsewhere.pk}").status_code == 404


def test_detail_and_contact_conversations_query_counts(api, agent, sms_inbox, django_assert_max_num_queries):
    _fill(sms_inbox, agent, 3, 0)
    conversation = Conversation.objects.order_by("id").first()
    for _ in range(3):  # more conversations of the same contact
        ConversationFactory(inbox=sms_inbox, contact=conversation.contact, last_activity_at=T0)
    with django_assert_max_num_queries(4):  # token, the row (+ unread), identities, labels
        assert api.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    # the contact, its conversations, identities, labels (the token is cached since the request before)
    with django_assert_max_num_queries(4):
        assert api.get(f"/api/v1/contacts/{conversation.contact_id}/conversations").status_code == 200
