"""Visitor messages over HTTP: send (idempotent), history, isolation, limits, uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.widget.models import Visitor
from apps.widget.services import WidgetError, visitor_message_send
from tests.widget.conftest import SITE, WidgetClient, sign

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_send_stores_one_message_in_a_new_conversation(widget, widget_inbox):
    widget.session(name="Jo")
    response = widget.send("<b>Hello</b> & hi", "c-1")
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == SITE
    msg = response.json()["message"]
    assert msg["client_id"] == "c-1" and msg["direction"] == "in" and msg["status"] == "received"
    assert msg["text"] == "<b>Hello</b> & hi"  # stored raw; the widget renders it as text
    assert msg["author"] is None and msg["attachments"] == []
    message = Message.objects.get()
    assert message.inbox == widget_inbox and message.channel == Identity.Kind.WIDGET
    assert message.body == "<b>Hello</b> & hi"
    conversation = Conversation.objects.get()
    assert msg["conversation"] == conversation.pk and conversation.inbox == widget_inbox


def test_resend_with_the_same_client_id_is_stored_once(widget):
    widget.session()
    first = widget.send("Hello", "c-1")
    again = widget.send("Hello", "c-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert Message.objects.count() == 1


def test_same_client_id_from_two_visitors_is_two_messages(widget_inbox):
    one, two = WidgetClient(widget_inbox), WidgetClient(widget_inbox)
    one.session()
    two.session()
    assert one.send("a", "c-1").status_code == 201
    assert two.send("b", "c-1").status_code == 201
    assert Message.objects.count() == 2 and Conversation.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_store_one_message(widget_inbox):
    """Two requests with one client id racing (a retry while the first is in flight)."""
    from tests.concurrency import run_at_once

    client = WidgetClient(widget_inbox)
    client.session()
    visitor = Visitor.objects.get()

    def send() -> tuple[int, bool]:
        message, created = visitor_message_send(visitor=visitor, client_id="race", text="hi")
        return message.pk, created

    results = run_at_once(send, [()] * 4)
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Message.objects.count() == 1


def test_empty_and_too_long(widget, settings):
    settings.WIDGET_MAX_TEXT = 10
    widget.session()
    response = widget.send("   ", "c-1")
    assert response.status_code == 400 and response.json()["error"]["code"] == "empty"
    response = widget.send("x" * 11, "c-2")
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_long"
    assert widget.send("x" * 10, "c-3").status_code == 201
    assert Message.objects.count() == 1


def test_bad_client_id(widget):
    widget.session()
    for client_id in ["", "x" * 65]:
        response = widget.send("hi", client_id)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_no_or_bad_token(widget):
    widget.session()
    assert widget.http.get("/widget/api/messages", HTTP_ORIGIN=SITE).status_code == 401
    assert widget.history(token="forged").status_code == 401
    assert widget.send("hi", "c-1", token="forged").status_code == 401
    assert Message.objects.count() == 0


def test_stolen_token_from_a_disallowed_origin_is_refused(widget, widget_inbox):
    widget.session()
    thief = WidgetClient(widget_inbox, origin="https://evil.example.net")
    thief.token = widget.token
    response = thief.send("hi", "c-1")
    assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"
    assert thief.history().status_code == 403
    assert Message.objects.count() == 0


def test_history_is_oldest_first_paged_and_only_this_visitors(widget, widget_inbox, agent):
    widget.session()
    for i in range(5):
        widget.send(f"m{i}", f"c-{i}")
    other = WidgetClient(widget_inbox)
    other.session()
    other.send("someone else's secret", "o-1")
    conversation = Conversation.objects.get(messages__body="m0")
    message_send(conversation_id=conversation.pk, agent=agent, body="private note", kind=Message.Kind.NOTE)
    reply, _ = message_send(conversation_id=conversation.pk, agent=agent, body="Hi from Ana", client_id="r1")

    body = widget.history(limit=3).json()
    texts = [m["text"] for m in body["messages"]]
    assert texts == ["m3", "m4", "Hi from Ana"] and body["more"] is True
    older = widget.history(limit=3, before=body["messages"][0]["id"]).json()
    assert [m["text"] for m in older["messages"]] == ["m0", "m1", "m2"] and older["more"] is False
    out = body["messages"][-1]
    assert out["direction"] == "out" and out["author"] == {"name": "Ana"} and out["client_id"] is None
    everything = widget.history(limit=100).json()["messages"]
    assert "private note" not in [m["text"] for m in everything]
    assert "someone else's secret" not in [m["text"] for m in everything]
    assert other.history().json()["messages"][0]["text"] == "someone else's secret"
    assert reply.pk in [m["id"] for m in everything]


def test_a_resolved_conversation_is_followed_by_a_new_one(widget, agent):
    from apps.conversations.services import conversation_update

    widget.session()
    widget.send("first", "c-1")
    first = Conversation.objects.get()
    conversation_update(conversation_id=first.pk, by=agent, status=Conversation.Status.RESOLVED)
    widget.send("again", "c-2")
    assert Conversation.objects.count() == 2
    assert [m["conversation"] for m in widget.history().json()["messages"]] == [
        first.pk,
        Conversation.objects.exclude(pk=first.pk).get().pk,
    ]


def test_verified_user_sees_their_chat_on_another_device(widget_inbox):
    laptop, phone = WidgetClient(widget_inbox), WidgetClient(widget_inbox)
    laptop.session(user_id="kim", user_hash=sign("kim"))
    laptop.send("from the laptop", "l-1")
    phone.session(user_id="kim", user_hash=sign("kim"))
    phone.send("from the phone", "p-1")
    assert Conversation.objects.count() == 1
    assert [m["text"] for m in phone.history().json()["messages"]] == ["from the laptop", "from the phone"]


def test_a_merged_contact_does_not_show_one_visitor_anothers_chat(widget_inbox, agent):
    from apps.contacts.services import contact_merge

    one, two = WidgetClient(widget_inbox), WidgetClient(widget_inbox)
    one.session()
    two.session()
    one.send("one's message", "a")
    two.send("two's message", "b")
    a, b = (Visitor.objects.get(identity__address=c.session().json()["visitor"]["id"]) for c in (one, two))
    Identity.objects.filter(kind=Identity.Kind.WIDGET).update(verified=True)  # merges need proven people
    contact_merge(survivor_id=a.identity.contact_id, merged_id=b.identity.contact_id, by=agent)
    assert [m["text"] for m in one.history().json()["messages"]] == ["one's message"]
    assert [m["text"] for m in two.history().json()["messages"]] == ["two's message"]
    two.send("two again", "c")
    assert [m["text"] for m in one.history().json()["messages"]] == ["one's message"]


def test_agent_reply_is_sent_by_the_widget_gateway(widget, agent, django_capture_on_commit_callbacks):
    widget.session()
    widget.send("hello", "c-1")
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(conversation_id=conversation.pk, agent=agent, body="Hi!", client_id="r1")
    reply.refresh_from_db()
    assert reply.channel == "widget" and reply.status == Message.Status.SENT
    assert reply.provider_id == f"widget-out:{reply.pk}"
    # Reading it over HTTP marks it delivered.
    assert widget.history().json()["messages"][-1]["status"] == "sent"
    reply.refresh_from_db()
    assert reply.status == Message.Status.DELIVERED
    assert widget.history().json()["messages"][-1]["status"] == "delivered"


# --- uploads ------------------------------------------------------------------------------


def test_upload_an_image(widget):
    widget.session()
    response = widget.upload("u-1", SimpleUploadedFile("shot.png", PNG, content_type="image/png"), text="see")
    assert response.status_code == 201
    msg = response.json()["message"]
    [attachment] = msg["attachments"]
    assert attachment["name"] == "shot.png" and attachment["size"] == len(PNG)
    assert attachment["content_type"] == "image/png"
    fetched = widget.http.get(attachment["url"])
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content) == PNG
    assert fetched["X-Content-Type-Options"] == "nosniff"
    # Resending the same client id does not store the file twice.
    again = widget.upload("u-1", SimpleUploadedFile("shot.png", PNG, content_type="image/png"), text="see")
    assert again.status_code == 200 and Message.objects.get().attachments.count() == 1


def test_upload_too_large(widget, settings):
    settings.WIDGET_MAX_UPLOAD_BYTES = 1000
    widget.session()
    big = SimpleUploadedFile("big.png", PNG + b"\x00" * 1000, content_type="image/png")
    response = widget.upload("u-1", big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("run.exe", b"MZ\x90\x00", "application/x-msdownload"),
        ("page.html", b"<script>alert(1)</script>", "text/html"),
        ("fake.png", b"<svg onload=alert(1)>", "image/png"),  # claims PNG, is not
    ],
)
def test_upload_type_not_allowed(widget, name, data, content_type):
    widget.session()
    response = widget.upload("u-1", SimpleUploadedFile(name, data, content_type=content_type))
    assert response.status_code == 415 and response.json()["error"]["code"] == "type_not_allowed"
    assert Message.objects.count() == 0


def test_file_urls_are_signed(widget):
    widget.session()
    url = widget.upload("u-1", SimpleUploadedFile("a.png", PNG, content_type="image/png")).json()["message"][
        "attachments"
    ][0]["url"]
    assert widget.http.get(url + "x").status_code == 404
    attachment_id = Message.objects.get().attachments.get().pk
    assert widget.http.get(f"/widget/api/files/{attachment_id}").status_code == 404


def test_file_url_expires(widget, settings):
    from unittest import mock

    widget.session()
    url = widget.upload("u-1", SimpleUploadedFile("a.png", PNG, content_type="image/png")).json()["message"][
        "attachments"
    ][0]["url"]
    import time as time_module

    later = time_module.time() + 2 * 24 * 3600
    with mock.patch("time.time", return_value=later):
        assert widget.http.get(url).status_code == 404


def test_service_refuses_with_widget_errors(widget):
    widget.session()
    visitor = Visitor.objects.get()
    with pytest.raises(WidgetError) as refused:
        visitor_message_send(visitor=visitor, client_id="x", text="", uploads=())
    assert (refused.value.code, refused.value.status) == ("empty", 400)
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF", content_type="application/pdf")
    message, created = visitor_message_send(visitor=visitor, client_id="y", text="", uploads=[pdf])
    assert created and message.attachments.get().content_type == "application/pdf"


def test_multipart_without_file_is_a_text_message(widget):
    widget.session()
    response = widget.http.post("/widget/api/messages", {"client_id": "m-1", "text": "plain"}, **widget.headers())
    assert response.status_code == 201 and response.json()["message"]["text"] == "plain"


def test_another_visitors_message_id_reveals_nothing(widget_inbox):
    """`before` is a message id: one of someone else's only bounds this visitor's own page."""
    mine, theirs = WidgetClient(widget_inbox), WidgetClient(widget_inbox)
    mine.session()
    theirs.session()
    mine.send("mine", "m-1")
    secret = theirs.send("theirs", "t-1").json()["message"]
    mine.send("mine again", "m-2")
    page = mine.history(before=secret["id"] + 1).json()["messages"]
    assert [m["text"] for m in page] == ["mine"]
    assert all(m["conversation"] != secret["conversation"] for m in mine.history().json()["messages"])
    assert mine.history(before="x").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_first_sessions_of_one_user_at_once_share_one_contact(widget_inbox):
    from apps.widget.services import visitor_session
    from tests.concurrency import run_at_once

    def start() -> int:
        return visitor_session(inbox_key=widget_inbox.key, user_id="kim", user_hash_given=sign("kim")).visitor.pk

    visitors = run_at_once(start, [()] * 4)
    assert len(set(visitors)) == 4  # four devices, four visitors …
    assert Identity.objects.filter(kind=Identity.Kind.USER_ID, address="kim").count() == 1
    contacts = set(Visitor.objects.values_list("identity__contact_id", flat=True))
    assert len(contacts) == 1  # … one person
