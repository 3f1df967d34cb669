"""Authentic but malformed webhooks: answered 200, kept raw in the journal, flagged, no message."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from apps.bus.models import InboundEntry
from tests.conftest import row_counts, twilio_params, twilio_sign

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True

INBOUND = "/webhooks/twilio/messages"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


def _assert_flagged_without_message(reason_part: str) -> InboundEntry:
    entry = InboundEntry.objects.get()
    assert entry.state == InboundEntry.State.FLAGGED
    assert reason_part in entry.flag_reason
    assert entry.message_id is None
    assert bytes(entry.raw)  # the raw body is kept for an admin
    counts = row_counts()
    assert counts["Message"] == 0
    assert counts["Contact"] == 0
    assert counts["Identity"] == 0
    assert counts["Conversation"] == 0
    assert counts["Event"] == 0
    return entry


@pytest.mark.django_db(transaction=True)
def test_missing_body_is_flagged(post_twilio, sms_inbox):
    params = twilio_params()
    del params["Body"]
    response = post_twilio(**params)
    assert response.status_code == 200
    assert response.content == EMPTY_TWIML
    entry = _assert_flagged_without_message("no Body field")
    assert entry.provider_message_id == params["MessageSid"]


@pytest.mark.django_db(transaction=True)
def test_more_than_ten_media_is_flagged(post_twilio, sms_inbox):
    params = twilio_params(NumMedia="11")
    for index in range(11):
        params[f"MediaUrl{index}"] = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME{index}"
        params[f"MediaContentType{index}"] = "image/jpeg"
    response = post_twilio(**params)
    assert response.status_code == 200
    _assert_flagged_without_message("NumMedia=11")


@pytest.mark.django_db(transaction=True)
def test_num_media_that_is_not_a_number_is_flagged(post_twilio, sms_inbox):
    response = post_twilio(**twilio_params(NumMedia="two"))
    assert response.status_code == 200
    _assert_flagged_without_message("NumMedia is not a number")


@pytest.mark.django_db(transaction=True)
def test_media_count_without_its_url_is_flagged(post_twilio, sms_inbox):
    response = post_twilio(**twilio_params(NumMedia="1"))
    assert response.status_code == 200
    _assert_flagged_without_message("MediaUrl0 missing")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("not-a-number", "'not-a-number' is not a phone number"),
        ("+1", "'+1' is not a phone number"),
        ("", "empty phone number"),
    ],
)
def test_invalid_from_number_is_flagged(post_twilio, sms_inbox, sender, reason):
    response = post_twilio(**twilio_params(From=sender))
    assert response.status_code == 200
    _assert_flagged_without_message(reason)


@pytest.mark.django_db(transaction=True)
def test_sender_on_an_unsupported_channel_is_flagged(post_twilio, sms_inbox):
    response = post_twilio(**twilio_params(From="messenger:1234567890"))
    assert response.status_code == 200
    _assert_flagged_without_message("unsupported sender channel 'messenger'")


@pytest.mark.django_db(transaction=True)
def test_message_to_a_number_no_inbox_has_is_flagged(post_twilio, sms_inbox):
    response = post_twilio(**twilio_params(To="+15005550009"))
    assert response.status_code == 200
    _assert_flagged_without_message("no sms inbox has the address '+15005550009'")


@pytest.mark.django_db(transaction=True)
def test_body_longer_than_twilio_allows_is_flagged(post_twilio, sms_inbox):
    response = post_twilio(**twilio_params(Body="x" * 1601))
    assert response.status_code == 200
    _assert_flagged_without_message("1601 characters")


@pytest.mark.django_db(transaction=True)
def test_missing_message_sid_is_flagged_and_keyed_by_body_hash(post_twilio, sms_inbox):
    params = twilio_params()
    for name in ("MessageSid", "SmsMessageSid", "SmsSid"):
        del params[name]
    response = post_twilio(**params)
    assert response.status_code == 200
    entry = _assert_flagged_without_message("no MessageSid")
    assert entry.provider_message_id.startswith("sha256:")
    # The same body again is the same delivery: still one journal row.
    assert post_twilio(**params).status_code == 200
    assert InboundEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_non_utf8_form_body_is_flagged_at_intake(client, sms_inbox):
    params = twilio_params()
    raw = (urlencode({k: v for k, v in params.items() if k != "Body"}) + "&Body=caf%E9").encode("ascii")  # Latin-1 é
    # The request is authentic: its signature covers the fields exactly as the server reads them.
    as_read = QueryDict(raw, encoding="utf-8")
    assert as_read["Body"] == "caf\N{REPLACEMENT CHARACTER}"
    response = client.post(
        INBOUND,
        data=raw,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_sign(INBOUND, as_read),
    )
    assert response.status_code == 200
    entry = _assert_flagged_without_message("not UTF-8")
    assert bytes(entry.raw) == raw
    assert entry.processed_at is None  # never handed to processing


@pytest.mark.django_db(transaction=True)
def test_status_callback_without_a_status_is_answered_and_ignored(post_twilio, sms_inbox):
    response = post_twilio("/webhooks/twilio/status", AccountSid="AC" + "1" * 32, MessageSid="SM" + "3" * 32)
    assert response.status_code == 200
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_status_callback_with_an_unknown_status_is_answered_and_ignored(post_twilio, sms_inbox):
    response = post_twilio(
        "/webhooks/twilio/status", AccountSid="AC" + "1" * 32, MessageSid="SM" + "3" * 32, MessageStatus="teleported"
    )
    assert response.status_code == 200
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_nul_character_is_flagged_not_a_server_error(client, sms_inbox):
    """PostgreSQL cannot store NUL; the webhook must still keep the delivery (GSM-7 '@' is 0x00)."""
    params = twilio_params(Body="meet me \x00 the cafe")
    raw = urlencode(params).encode("ascii")
    response = client.post(
        INBOUND,
        data=raw,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_sign(INBOUND, params),
    )
    assert response.status_code == 200
    entry = _assert_flagged_without_message("NUL characters")
    assert bytes(entry.raw) == raw
    assert entry.payload["Body"] == ["meet me \N{REPLACEMENT CHARACTER} the cafe"]
    assert entry.provider_message_id == params["MessageSid"]
