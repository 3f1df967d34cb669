"""Telegram updates in through the webhook: the secret, dedupe by update_id, each kind of message,
edits, the sender's identity, and what is flagged instead of stored."""

from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.conversations.models import Attachment, Message
from tests.conftest import row_counts
from tests.telegram.conftest import CHAT_ID, TOKEN, update

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(u: dict) -> Message:
    body = u["message"]
    return Message.objects.get(provider_id=f"{body['chat']['id']}:{body['message_id']}", channel="telegram")


def test_a_text_message_is_stored_with_a_telegram_identity(post_update, tg_bot, tg_agent):
    u = update()
    response = post_update(u)
    assert response.status_code == 200
    message = _stored(u)
    assert message.body == "Hi, my order #123 hasn't arrived"
    assert message.inbox_id == tg_bot.inbox_id
    assert message.direction == Message.Direction.INBOUND
    assert message.meta["telegram"]["username"] == "janedoe"
    identity = message.identity
    assert (identity.kind, identity.address, identity.display) == ("telegram", str(CHAT_ID), "@janedoe")
    assert identity.contact.name == "Jane Doe"
    entry = InboundEntry.objects.get(message=message)
    assert (entry.source, entry.provider_message_id, entry.channel) == (
        f"telegram:{TOKEN.split(':')[0]}",
        str(u["update_id"]),
        "telegram",
    )
    assert entry.state == InboundEntry.State.DONE


def test_the_sender_is_keyed_by_chat_id_not_the_username(post_update, tg_bot):
    first = update()
    post_update(first)
    renamed = update({"text": "new name, same me"})
    renamed["message"]["from"]["username"] = "jane_renamed"
    post_update(renamed)
    a, b = _stored(first), _stored(renamed)
    assert a.identity_id == b.identity_id
    assert a.conversation_id == b.conversation_id
    assert Identity.objects.filter(kind="telegram").count() == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "s3cret-Token_for-test"])
def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(post_update, tg_bot, secret):
    before = row_counts()
    response = post_update(update(), secret=secret)
    assert response.status_code == 403
    assert row_counts() == before


def test_an_unknown_inbox_key_is_404(client, tg_bot):
    response = client.post(
        "/webhooks/telegram/nope", data=b"{}", content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="x"
    )
    assert response.status_code == 404
    assert InboundEntry.objects.count() == 0


def test_a_redelivered_update_is_stored_once(post_update, tg_bot):
    u = update()
    assert post_update(u).status_code == 200
    assert post_update(u).status_code == 200
    assert InboundEntry.objects.filter(provider_message_id=str(u["update_id"])).count() == 1
    assert Message.objects.filter(channel="telegram").count() == 1


def test_a_photo_is_fetched_with_getfile_into_storage(post_update, tg_bot, telegram_server):
    telegram_server.add_file("photo-big", "photos/file_7.jpg", b"\xff\xd8big-jpeg\xff\xd9")
    u = update(
        {
            "caption": "the box was crushed",
            "photo": [
                {"file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
                {"file_id": "photo-big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 12},
            ],
        }
    )
    post_update(u)
    message = _stored(u)
    assert message.body == "the box was crushed"
    attachment = Attachment.objects.get(message=message)
    assert attachment.error == ""
    assert (attachment.content_type, attachment.filename) == ("image/jpeg", "image.jpg")
    with attachment.file.open("rb") as stored:
        assert stored.read() == b"\xff\xd8big-jpeg\xff\xd9"
    [get_file] = telegram_server.calls_of("getFile")
    assert get_file.params["file_id"] == "photo-big" and get_file.token == TOKEN


def test_a_document_keeps_its_name_in_the_text_and_its_bytes(post_update, tg_bot, telegram_server):
    telegram_server.add_file("doc-1", "documents/file_3.pdf", b"%PDF-1.4 invoice")
    u = update(
        {
            "document": {
                "file_id": "doc-1",
                "file_unique_id": "d",
                "file_name": "invoice.pdf",
                "mime_type": "application/pdf",
                "file_size": 16,
            }
        }
    )
    post_update(u)
    message = _stored(u)
    assert message.body == "[Document: invoice.pdf]"
    attachment = Attachment.objects.get(message=message)
    assert attachment.content_type == "application/pdf"
    assert attachment.filename == "invoice.pdf"
    with attachment.file.open("rb") as stored:
        assert stored.read() == b"%PDF-1.4 invoice"


def test_voice_and_video_are_readable_and_fetched(post_update, tg_bot, telegram_server):
    telegram_server.add_file("voice-1", "voice/file_1.oga", b"OggS-voice")
    telegram_server.add_file("video-1", "videos/file_2.mp4", b"mp4-video")
    voice = update(
        {
            "voice": {
                "file_id": "voice-1",
                "file_unique_id": "v",
                "duration": 7,
                "mime_type": "audio/ogg",
                "file_size": 10,
            }
        }
    )
    video = update(
        {
            "video": {
                "file_id": "video-1",
                "file_unique_id": "w",
                "duration": 75,
                "width": 640,
                "height": 360,
                "mime_type": "video/mp4",
                "file_size": 9,
            }
        }
    )
    post_update(voice)
    post_update(video)
    assert _stored(voice).body == "[Voice message, 0:07]"
    assert _stored(video).body == "[Video, 1:15]"
    assert Attachment.objects.get(message=_stored(voice)).content_type == "audio/ogg"
    assert Attachment.objects.get(message=_stored(video)).content_type == "video/mp4"


def test_a_file_over_the_bot_download_limit_is_recorded_not_fetched(post_update, tg_bot, telegram_server, settings):
    settings.TELEGRAM_MEDIA_MAX_BYTES = 100
    u = update({"document": {"file_id": "huge", "file_unique_id": "h", "file_name": "big.zip", "file_size": 101}})
    post_update(u)
    attachment = Attachment.objects.get(message=_stored(u))
    assert "101 bytes" in attachment.error and not attachment.file
    assert telegram_server.calls_of("getFile") == []


def test_location_and_contact_are_readable(post_update, tg_bot):
    place = update({"location": {"latitude": 48.8584, "longitude": 2.2945}})
    card = update({"contact": {"phone_number": "+33612345678", "first_name": "Paul", "last_name": "Martin"}})
    post_update(place)
    post_update(card)
    assert _stored(place).body.startswith(
        "[Location] 48.8584, 2.2945 https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945"
    )
    assert _stored(card).body == "[Contact] Paul Martin, +33612345678"


def test_an_edit_is_a_readable_message_linked_to_the_original(post_update, tg_bot):
    original = update({"text": "my order is #123"})
    post_update(original)
    edited = update(
        {"text": "my order is #124", "edit_date": 1741082460},
        key="edited_message",
        message_id=original["message"]["message_id"],
    )
    assert post_update(edited).status_code == 200
    first = _stored(original)
    messages = list(Message.objects.filter(conversation=first.conversation).order_by("seq"))
    assert [m.body for m in messages] == ["my order is #123", "(edited) my order is #124"]
    edit = messages[1]
    assert edit.meta["edited"] is True
    assert edit.meta["edit_of"] == first.pk
    assert edit.provider_id == f"{first.provider_id}:edit:1741082460"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "the update is not JSON"),
        (b"[1, 2]", "the update is not a JSON object"),
        (b'{"message": {"text": "no id"}}', "the update has no update_id"),
    ],
)
def test_unparseable_updates_are_kept_raw_and_flagged(post_update, tg_bot, raw, reason):
    response = post_update(None, raw=raw)
    assert response.status_code == 200
    entry = InboundEntry.objects.get()
    assert (entry.state, entry.flag_reason) == (InboundEntry.State.FLAGGED, reason)
    assert bytes(entry.raw) == raw
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"update_id": 777001, "callback_query": {"id": "1"}}, "an update this desk does not take (callback_query)"),
        (
            {"update_id": 777002, "message": {"message_id": 5, "date": 1, "text": "where from?"}},
            "the message has no chat id",
        ),
        (
            {"update_id": 777003, "message": {"message_id": 6, "chat": {"id": "abc"}, "text": "x"}},
            "the message has no chat id",
        ),
    ],
)
def test_updates_we_cannot_route_are_flagged_never_lost(post_update, tg_bot, body, reason):
    response = post_update(body)
    assert response.status_code == 200
    entry = InboundEntry.objects.get()
    assert entry.state == InboundEntry.State.FLAGGED
    assert entry.flag_reason == reason
    assert Message.objects.count() == 0


def test_an_update_for_a_deleted_inbox_is_flagged(post_update, tg_bot):
    from apps.bus.services import inbound_accept

    # An update journalled for an inbox that is gone by the time it is processed.
    inbound_accept(
        source=tg_bot.source,
        provider_message_id="999",
        channel="telegram",
        sender="1",
        payload={"inbox": ["999999"], "bot": [str(tg_bot.pk)]},
        raw=b'{"update_id": 999, "message": {"message_id": 1, "chat": {"id": 1}, "date": 1, "text": "hi"}}',
    )
    from apps.bus.services import inbound_drain

    inbound_drain()
    entry = InboundEntry.objects.get(provider_message_id="999")
    assert entry.state == InboundEntry.State.FLAGGED
    assert "inbox" in entry.flag_reason


def test_my_chat_member_is_journalled_without_a_message(post_update, tg_bot):
    body = {
        "update_id": 777010,
        "my_chat_member": {
            "chat": {"id": CHAT_ID, "type": "private"},
            "from": {"id": CHAT_ID},
            "date": 1,
            "old_chat_member": {"status": "member"},
            "new_chat_member": {"status": "kicked"},
        },
    }
    assert post_update(body).status_code == 200
    entry = InboundEntry.objects.get()
    assert entry.state == InboundEntry.State.DONE
    assert Message.objects.count() == 0
