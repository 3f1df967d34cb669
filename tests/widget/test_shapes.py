"""The visitor's `msg` shape: from the database and from an event's data, the same; never notes."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.conversations.events import message_data
from apps.conversations.models import Conversation, Message
from apps.conversations.services import FileUpload, message_send
from apps.widget.models import Visitor
from apps.widget.services import client_id_of, visitor_event_message, visitor_message_data, visitor_message_send

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


def _strip_urls(msg: dict) -> dict:
    """Signed URLs carry a timestamp: compare where they point, not the signature's second."""
    out = dict(msg)
    out["attachments"] = [{**a, "url": bool(a["url"])} for a in msg["attachments"]]
    return out


def test_event_data_and_database_give_the_same_shape(widget, agent, django_capture_on_commit_callbacks):
    widget.session()
    visitor = Visitor.objects.get()
    inbound, _ = visitor_message_send(
        visitor=visitor,
        client_id="c-1",
        text="look",
        uploads=[SimpleUploadedFile("a.png", PNG, content_type="image/png")],
    )
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(
            conversation_id=conversation.pk,
            agent=agent,
            body="here is the manual",
            client_id="agent-1",
            attachments=[FileUpload(filename="m.pdf", content_type="application/pdf", data=b"%PDF-1.4 x")],
        )
        note, _ = message_send(conversation_id=conversation.pk, agent=agent, body="internal", kind="note")
    for message in (inbound, reply):
        message = Message.objects.get(pk=message.pk)
        from_db = visitor_message_data(message)
        from_event = visitor_event_message(message_data(message))
        assert from_event is not None
        assert _strip_urls(from_event) == _strip_urls(from_db)
    assert visitor_message_data(Message.objects.get(pk=inbound.pk))["client_id"] == "c-1"
    out = visitor_message_data(Message.objects.get(pk=reply.pk))
    assert out["client_id"] is None  # the agent's client id is theirs, not the visitor's
    assert out["author"] == {"name": "Ana"} and out["attachments"][0]["name"] == "m.pdf"
    assert visitor_event_message(message_data(note)) is None
    # Nothing of ours leaks into the visitor's shape.
    assert set(out) == {
        "id",
        "client_id",
        "conversation",
        "seq",
        "direction",
        "text",
        "author",
        "status",
        "created_at",
        "attachments",
    }


def test_client_id_of():
    assert client_id_of("widget:v_abc:c:1") == "c:1"
    assert client_id_of("SM123") is None and client_id_of(None) is None
