"""X-Twilio-Signature verification (protocols.md §1.4), through TwilioGateway.verify and the views."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from apps.gateways.twilio.gateway import TwilioGateway
from tests.conftest import row_counts, twilio_params, twilio_sign

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True

DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}

# protocols.md §1.3, one line (the line breaks there are for reading only).
FIXTURE_BODY = (
    "ToCountry=US&ToState=CA&SmsMessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=1"
    "&ToCity=SAN+FRANCISCO&FromZip=94103&SmsSid=SM0123456789abcdef0123456789abcdef&FromState=CA"
    "&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=My+router+is+broken+%F0%9F%93%A1&FromCountry=US"
    "&To=%2B14155550100&MessagingServiceSid=MG0123456789abcdef0123456789abcdef&ToZip=94105"
    "&NumSegments=1&MessageSid=SM0123456789abcdef0123456789abcdef"
    "&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B14155552671&ApiVersion=2010-04-01"
    "&MediaContentType0=image%2Fjpeg"
    "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC0123456789abcdef0123456789abcdef"
    "%2FMessages%2FMM0123456789abcdef0123456789abcdef%2FMedia%2FME0123456789abcdef0123456789abcdef"
)
FIXTURE_SIGNATURE = "HDTVyLI0WwJnVa6O9CIgSpYXxD4="

INBOUND = "/webhooks/twilio/messages"


def _form_request(path: str, body: str, **headers: str):
    return RequestFactory().post(path, data=body, content_type="application/x-www-form-urlencoded", **headers)


def test_docs_vector_is_accepted(settings):
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request(
        "/myapp.php?foo=1&bar=2", urlencode(DOCS_PARAMS), HTTP_X_TWILIO_SIGNATURE="0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert TwilioGateway().verify(request) is True


def test_docs_vector_with_one_changed_field_is_refused(settings):
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request(
        "/myapp.php?foo=1&bar=2",
        urlencode({**DOCS_PARAMS, "Digits": "1235"}),
        HTTP_X_TWILIO_SIGNATURE="0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
    )
    assert TwilioGateway().verify(request) is False


def test_docs_vector_with_another_token_is_refused(settings):
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    settings.TWILIO_AUTH_TOKEN = "54321"
    request = _form_request(
        "/myapp.php?foo=1&bar=2", urlencode(DOCS_PARAMS), HTTP_X_TWILIO_SIGNATURE="0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert TwilioGateway().verify(request) is False


def test_docs_vector_with_another_query_string_is_refused(settings):
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request(
        "/myapp.php?foo=1&bar=3", urlencode(DOCS_PARAMS), HTTP_X_TWILIO_SIGNATURE="0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert TwilioGateway().verify(request) is False


def test_inbound_mms_fixture_is_accepted(settings):
    settings.PUBLIC_BASE_URL = "https://support.example.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY, HTTP_X_TWILIO_SIGNATURE=FIXTURE_SIGNATURE)
    assert TwilioGateway().verify(request) is True


def test_inbound_mms_fixture_parses_to_one_message_with_one_image(settings):
    settings.PUBLIC_BASE_URL = "https://support.example.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY, HTTP_X_TWILIO_SIGNATURE=FIXTURE_SIGNATURE)
    [inbound] = TwilioGateway().parse_inbound(dict(request.POST.lists()))
    assert inbound.channel == "phone"
    assert inbound.sender == "+14155552671"
    assert inbound.recipient == "+14155550100"
    assert inbound.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    assert inbound.text == "My router is broken \N{SATELLITE ANTENNA}"
    assert [(a.url, a.content_type) for a in inbound.attachments] == [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/"
            "MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef",
            "image/jpeg",
        )
    ]
    assert inbound.opt_out == ""


def test_public_base_url_with_explicit_port_accepts_a_signature_made_without_it(settings):
    settings.PUBLIC_BASE_URL = "https://support.example.com:443"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY, HTTP_X_TWILIO_SIGNATURE=FIXTURE_SIGNATURE)
    assert TwilioGateway().verify(request) is True


def test_signature_made_with_explicit_port_is_accepted(settings):
    settings.PUBLIC_BASE_URL = "https://support.example.com"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY)
    signature = RequestValidator("12345").compute_signature(
        "https://support.example.com:443/twilio/sms/inbound", request.POST
    )
    assert signature != FIXTURE_SIGNATURE
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY, HTTP_X_TWILIO_SIGNATURE=signature)
    assert TwilioGateway().verify(request) is True


def test_signature_for_another_host_is_refused(settings):
    settings.PUBLIC_BASE_URL = "https://support.example.org"
    settings.TWILIO_AUTH_TOKEN = "12345"
    request = _form_request("/twilio/sms/inbound", FIXTURE_BODY, HTTP_X_TWILIO_SIGNATURE=FIXTURE_SIGNATURE)
    assert TwilioGateway().verify(request) is False


# --- through the webhook view -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_unknown_extra_field_is_signed_and_accepted(post_twilio, sms_inbox):
    params = twilio_params(Body="New field today", SomethingTwilioAddedLater="42")
    response = post_twilio(**params)
    assert response.status_code == 200
    counts = row_counts()
    assert counts["InboundEntry"] == 1
    assert counts["Message"] == 1


@pytest.mark.django_db(transaction=True)
def test_field_added_after_signing_is_refused_and_nothing_stored(client, sms_inbox):
    params = twilio_params()
    signature = twilio_sign(INBOUND, params)
    response = client.post(INBOUND, {**params, "Injected": "1"}, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_forged_signature_is_refused_and_nothing_stored(client, sms_inbox):
    params = twilio_params()
    forged = twilio_sign(INBOUND, params, token="not-the-auth-token")
    response = client.post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=forged)
    assert response.status_code == 403
    assert response.content == b"invalid signature"
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_missing_signature_is_refused_and_nothing_stored(client, sms_inbox):
    response = client.post(INBOUND, twilio_params())
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_signature_for_another_path_is_refused(client, sms_inbox):
    params = twilio_params()
    response = client.post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=twilio_sign("/webhooks/twilio/status", params))
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_no_auth_token_configured_refuses_everything(client, sms_inbox, settings):
    params = twilio_params()
    signature = twilio_sign(INBOUND, params, token="test-auth-token")
    settings.TWILIO_AUTH_TOKEN = ""
    response = client.post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_get_is_not_allowed(client, sms_inbox):
    response = client.get(INBOUND)
    assert response.status_code == 405
    assert set(row_counts().values()) == {0}


def _shared_key_post(client, params, *, secret, key_id, algorithm="HMAC_SHA256"):
    from django.conf import settings

    signature = RequestValidator(secret).compute_signature(settings.PUBLIC_BASE_URL + INBOUND, params, algorithm)
    return client.post(
        INBOUND,
        params,
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS=f"key={key_id},algorithm={algorithm}",
    )


@pytest.mark.django_db(transaction=True)
def test_shared_key_signature_is_accepted(client, sms_inbox, settings):
    settings.TWILIO_WEBHOOK_SHARED_KEYS = {"webhooks_sharedkey_1": "shared-secret-1"}
    response = _shared_key_post(
        client, twilio_params(Body="signed with a shared key"), secret="shared-secret-1", key_id="webhooks_sharedkey_1"
    )
    assert response.status_code == 200
    counts = row_counts()
    assert counts["InboundEntry"] == 1
    assert counts["Message"] == 1


@pytest.mark.django_db(transaction=True)
def test_shared_key_signature_with_unknown_key_is_refused(client, sms_inbox, settings):
    settings.TWILIO_WEBHOOK_SHARED_KEYS = {"webhooks_sharedkey_1": "shared-secret-1"}
    response = _shared_key_post(client, twilio_params(), secret="shared-secret-1", key_id="webhooks_sharedkey_2")
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_shared_key_header_with_a_signature_by_another_secret_is_refused(client, sms_inbox, settings):
    settings.TWILIO_WEBHOOK_SHARED_KEYS = {"webhooks_sharedkey_1": "shared-secret-1"}
    response = _shared_key_post(client, twilio_params(), secret="test-auth-token", key_id="webhooks_sharedkey_1")
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_shared_key_signature_with_unknown_algorithm_is_refused(client, sms_inbox, settings):
    settings.TWILIO_WEBHOOK_SHARED_KEYS = {"webhooks_sharedkey_1": "shared-secret-1"}
    params = twilio_params()
    signature = RequestValidator("shared-secret-1").compute_signature(
        settings.PUBLIC_BASE_URL + INBOUND, params, "HMAC_SHA256"
    )
    response = client.post(
        INBOUND,
        params,
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS="key=webhooks_sharedkey_1,algorithm=HMAC_SHA512",
    )
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_forged_status_callback_is_refused_and_nothing_stored(client, sms_inbox):
    params = {"AccountSid": "AC" + "1" * 32, "MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    response = client.post(
        "/webhooks/twilio/status",
        params,
        HTTP_X_TWILIO_SIGNATURE=twilio_sign("/webhooks/twilio/status", params, token="forged"),
    )
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}
