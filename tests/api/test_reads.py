"""Conversation list, contact timeline, events, schema and health checks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.bus.models import Event
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Attachment, Conversation, Message
from tests.conftest import twilio_params
from tests.factories import ContactFactory, ConversationFactory, IdentityFactory, InboxFactory
from tests.requires import needs_redis

pytestmark = pytest.mark.django_db(transaction=True)


def test_timeline_has_every_message_of_a_number_however_it_was_written(api, post_twilio, agent):
    for sender, text in [
        ("+14155552671", "first"),
        ("+1 (415) 555-2671", "second"),
        ("415-555-2671", "third"),
        ("whatsapp:+14155552671", "fourth, on WhatsApp"),
    ]:
        to = "whatsapp:+15005550006" if sender.startswith("whatsapp:") else "+15005550006"
        assert post_twilio(**twilio_params(From=sender, To=to, Body=text)).status_code == 200
    contact = Contact.objects.get()
    assert sorted(Identity.objects.values_list("kind", "address")) == [
        ("phone", "+14155552671"),
        ("whatsapp", "+14155552671"),
    ]

    response = api.get(f"/api/v1/contacts/{contact.pk}/timeline")

    assert response.status_code == 200
    body = response.json()
    assert body["contact"] == contact.pk
    assert [(m["body"], m["channel"], m["direction"]) for m in body["results"]] == [
        ("first", "phone", "in"),
        ("second", "phone", "in"),
        ("third", "phone", "in"),
        ("fourth, on WhatsApp", "whatsapp", "in"),
    ]
    assert body["next"] is None


def test_timeline_pages_with_after(api, post_twilio, agent):
    for n in range(5):
        post_twilio(**twilio_params(Body=f"m{n}"))
    contact = Contact.objects.get()
    first = api.get(f"/api/v1/contacts/{contact.pk}/timeline?limit=2").json()
    assert [m["body"] for m in first["results"]] == ["m0", "m1"]
    second = api.get(f"/api/v1/contacts/{contact.pk}/timeline?limit=2&after={first['next']}").json()
    assert [m["body"] for m in second["results"]] == ["m2", "m3"]
    third = api.get(f"/api/v1/contacts/{contact.pk}/timeline?limit=2&after={second['next']}").json()
    assert [m["body"] for m in third["results"]] == ["m4"]
    assert third["next"] is None


def test_conversation_list_filters_and_pages(api, post_twilio, agent, other_agent):
    for n in range(3):
        post_twilio(**twilio_params(From=f"+1415555{n:04d}", Body=f"c{n}"))
    conversations = list(Conversation.objects.order_by("-last_activity_at", "-id"))
    Conversation.objects.filter(pk=conversations[0].pk).update(assignee=agent)

    page = api.get("/api/v1/conversations?limit=2").json()
    assert [c["id"] for c in page["results"]] == [c.pk for c in conversations[:2]]
    assert page["next"]
    rest = api.get(f"/api/v1/conversations?limit=2&before={page['next']}").json()
    assert [c["id"] for c in rest["results"]] == [conversations[2].pk]
    assert rest["next"] is None
    mine = api.get("/api/v1/conversations?assignee=me").json()
    assert [c["id"] for c in mine["results"]] == [conversations[0].pk]
    waiting = api.get("/api/v1/conversations?assignee=none").json()
    assert [c["id"] for c in waiting["results"]] == [c.pk for c in conversations[1:]]
    bad = api.get("/api/v1/conversations?before=garbage")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"
    assert api.get("/api/v1/conversations?limit=many").json()["error"]["code"] == "invalid_limit"


def _make_conversations(inbox, agent, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        contact = ContactFactory()
        phone = IdentityFactory(contact=contact)
        IdentityFactory(contact=contact, kind=Identity.Kind.EMAIL, address=f"c{contact.pk}@example.com")
        conversation = ConversationFactory(
            inbox=inbox,
            contact=contact,
            assignee=agent,
            team=inbox.team,
            last_identity=phone,
            last_activity_at=now - dt.timedelta(seconds=i),
            last_seq=2,
        )
        for seq in (1, 2):
            message = Message.objects.create(
                conversation=conversation,
                seq=seq,
                inbox=inbox,
                direction="in",
                channel="phone",
                identity=phone,
                body=f"m{seq}",
                status="received",
                created_at=now,
                meta={"attachments": 1},
            )
            Attachment.objects.create(message=message, content_type="image/png")


def _count_queries(api, url: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200
    return len(queries), response.json()


def test_conversation_list_query_count_does_not_grow_with_rows(api, agent, sms_inbox, django_assert_max_num_queries):
    _make_conversations(sms_inbox, agent, 2)
    assert api.get("/api/v1/labels").status_code == 200  # warm: the token cache
    small, body = _count_queries(api, "/api/v1/conversations")
    assert len(body["results"]) == 2
    _make_conversations(sms_inbox, agent, 20)
    # conversations (with unread as a subquery), their contacts' identities, their labels; the
    # token is in the API token cache (apps/api/authentication.py) since the warm-up request
    with django_assert_max_num_queries(3):
        response = api.get("/api/v1/conversations")
    assert len(response.json()["results"]) == 22
    large, _ = _count_queries(api, "/api/v1/conversations")
    assert large == small
    assert {len(c["contact"]["identities"]) for c in response.json()["results"]} == {2}


def test_contact_timeline_query_count_does_not_grow_with_rows(api, agent, sms_inbox, django_assert_max_num_queries):
    contact = ContactFactory()
    phone = IdentityFactory(contact=contact)
    now = timezone.now()
    conversation = ConversationFactory(inbox=sms_inbox, contact=contact, last_identity=phone, last_activity_at=now)

    def add(n: int, start: int) -> None:
        for seq in range(start, start + n):
            message = Message.objects.create(
                conversation=conversation,
                seq=seq,
                inbox=sms_inbox,
                direction="in",
                channel="phone",
                identity=phone,
                body=f"m{seq}",
                status="received",
                created_at=now + dt.timedelta(seconds=seq),
                meta={"attachments": 1},
            )
            Attachment.objects.create(message=message, content_type="image/png")

    add(2, 1)
    assert api.get("/api/v1/labels").status_code == 200  # warm: the token cache
    small, body = _count_queries(api, f"/api/v1/contacts/{contact.pk}/timeline")
    assert len(body["results"]) == 2
    add(30, 3)
    with django_assert_max_num_queries(3):  # contact, messages, attachments (the token cached)
        response = api.get(f"/api/v1/contacts/{contact.pk}/timeline")
    assert [m["seq"] for m in response.json()["results"]] == list(range(1, 33))
    large, _ = _count_queries(api, f"/api/v1/contacts/{contact.pk}/timeline")
    assert large == small


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True)[0]


def test_events_since(api, post_twilio, agent):
    post_twilio(**twilio_params(Body="zero"))
    start = newest_event_id()
    for body in ("one", "two", "three"):
        post_twilio(**twilio_params(Body=body))
    ids = list(Event.objects.filter(id__gt=start).order_by("id").values_list("id", flat=True))

    body = api.get(f"/api/v1/events?since={start}").json()
    assert [e["id"] for e in body["events"]] == ids
    assert [e["type"] for e in body["events"]] == ["message.created"] * 3
    assert [e["data"]["body"] for e in body["events"]] == ["one", "two", "three"]
    assert body["last_event_id"] == ids[-1]
    assert (body["more"], body["resync_required"]) == (False, False)

    page = api.get(f"/api/v1/events?since={start}&limit=2").json()
    assert [e["id"] for e in page["events"]] == ids[:2]
    assert (page["last_event_id"], page["more"]) == (ids[1], True)
    rest = api.get(f"/api/v1/events?since={page['last_event_id']}&limit=2").json()
    assert [e["id"] for e in rest["events"]] == ids[2:]
    assert rest["more"] is False

    assert api.get(f"/api/v1/events?since={ids[-1]}").json()["events"] == []
    beyond = api.get(f"/api/v1/events?since={ids[-1] + 500}").json()
    assert (beyond["events"], beyond["resync_required"]) == ([], True)
    Event.objects.filter(id__lte=ids[1]).delete()
    pruned = api.get(f"/api/v1/events?since={start}").json()
    assert (pruned["events"], pruned["resync_required"]) == ([], True)

    missing = api.get("/api/v1/events")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_since"


def test_events_of_another_inbox_are_not_listed(api, post_twilio, agent):
    InboxFactory(address="+15005550099")
    post_twilio(**twilio_params(Body="mine"))
    start = newest_event_id()
    post_twilio(**twilio_params(From="+14155550000", To="+15005550099", Body="elsewhere"))
    newest = newest_event_id()
    assert newest > start
    body = api.get(f"/api/v1/events?since={start}").json()
    assert body["events"] == []
    assert body["last_event_id"] == newest  # the position moves on past what ana cannot see


def test_schema_is_openapi(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "supportdesk API"
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/contacts/{id}/timeline",
        "/api/v1/events",
        "/api/v1/agents",
        "/api/v1/teams",
        "/api/v1/inboxes",
        "/api/v1/me",
        "/api/v1/conversations/{id}/read",
        "/api/v1/contacts/{id}/conversations",
        "/api/v1/contacts/{id}/merge",
        "/api/v1/contact-merges/{id}/undo",
        "/api/v1/labels",
        "/api/v1/canned-responses",
        "/api/v1/canned-responses/{id}",
    ):
        assert path in schema["paths"], path
    assert "post" in schema["paths"]["/api/v1/conversations/{id}/messages"]


@pytest.mark.redis
@needs_redis
def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    # The channel layer is now checked (its Redis hosts answer), not just named (issue 10).
    assert body["checks"]["channel_layer"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["failing"] == []


def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "error"
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["failing"] == ["redis"]


def test_timeline_opens_on_the_newest_page_and_pages_backwards(api, post_twilio, agent, django_assert_max_num_queries):
    for n in range(5):
        post_twilio(**twilio_params(Body=f"m{n}"))
    contact = Contact.objects.get()
    url = f"/api/v1/contacts/{contact.pk}/timeline"
    with django_assert_max_num_queries(4):  # token, contact, messages (anchor as a subquery), attachments
        newest = api.get(f"{url}?newest=1&limit=2").json()
    assert [m["body"] for m in newest["results"]] == ["m3", "m4"]
    assert newest["next"] is None
    earlier = api.get(f"{url}?before={newest['previous']}&limit=2").json()
    assert [m["body"] for m in earlier["results"]] == ["m1", "m2"]
    first = api.get(f"{url}?before={earlier['previous']}&limit=2").json()
    assert [m["body"] for m in first["results"]] == ["m0"]
    assert first["previous"] is None
