"""Correctly signed Twilio webhooks of another account are refused (issue 10, security finding 1).

A signature proves who holds the signing secret, not whose message it is: a webhook whose
AccountSid is neither TWILIO_ACCOUNT_SID nor one of TWILIO_SUBACCOUNT_SIDS gets 403, leaves no
row behind, and a log line says why.
"""

from __future__ import annotations

import logging

import pytest

from tests.conftest import TWILIO_ACCOUNT, row_counts, twilio_params

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True

INBOUND = "/webhooks/twilio/messages"
STATUS = "/webhooks/twilio/status"
OURS = "AC" + "a" * 32
SUBACCOUNT = "AC" + "b" * 32
STRANGER = "AC" + "c" * 32


@pytest.fixture
def our_account(settings):
    settings.TWILIO_ACCOUNT_SID = OURS
    settings.TWILIO_SUBACCOUNT_SIDS = [SUBACCOUNT]


def _status_params(account: str) -> dict[str, str]:
    return {"AccountSid": account, "MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}


@pytest.mark.django_db(transaction=True)
def test_signed_message_of_another_account_is_refused_and_nothing_stored(post_twilio, sms_inbox, our_account, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.gateways.twilio.views"):
        response = post_twilio(INBOUND, **twilio_params(AccountSid=STRANGER))
    assert response.status_code == 403
    assert response.content == b"unknown account"
    assert set(row_counts().values()) == {0}
    [record] = [r for r in caplog.records if r.name == "apps.gateways.twilio.views"]
    assert record.levelno == logging.WARNING
    assert STRANGER in record.getMessage()
    assert "TWILIO_ACCOUNT_SID" in record.getMessage()


@pytest.mark.django_db(transaction=True)
def test_signed_message_without_account_sid_is_refused_when_an_account_is_configured(
    post_twilio, sms_inbox, our_account
):
    params = twilio_params()
    del params["AccountSid"]
    response = post_twilio(INBOUND, **params)
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_signed_message_of_our_account_is_stored(post_twilio, sms_inbox, our_account):
    response = post_twilio(INBOUND, **twilio_params(AccountSid=OURS))
    assert response.status_code == 200
    assert row_counts()["InboundEntry"] == 1


@pytest.mark.django_db(transaction=True)
def test_signed_message_of_a_configured_subaccount_is_stored(post_twilio, sms_inbox, our_account):
    response = post_twilio(INBOUND, **twilio_params(AccountSid=SUBACCOUNT))
    assert response.status_code == 200
    assert row_counts()["InboundEntry"] == 1


@pytest.mark.django_db(transaction=True)
def test_signed_status_callback_of_another_account_is_refused_and_nothing_stored(
    post_twilio, sms_inbox, our_account, caplog
):
    with caplog.at_level(logging.WARNING, logger="apps.gateways.twilio.views"):
        response = post_twilio(STATUS, **_status_params(STRANGER))
    assert response.status_code == 403
    assert set(row_counts().values()) == {0}
    assert any(STRANGER in r.getMessage() for r in caplog.records if r.name == "apps.gateways.twilio.views")


@pytest.mark.django_db(transaction=True)
def test_signed_status_callback_of_a_subaccount_is_kept(post_twilio, sms_inbox, our_account):
    response = post_twilio(STATUS, **_status_params(SUBACCOUNT))
    assert response.status_code == 200
    # No message of ours has that sid: the receipt is kept, unapplied, for when it has.
    assert row_counts()["StatusReceipt"] == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_configured_account_the_signature_alone_decides(post_twilio, sms_inbox, settings):
    """No Twilio account configured (the local outbox, `simulate_sms`): any signed account is taken."""
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_SUBACCOUNT_SIDS = []
    response = post_twilio(INBOUND, **twilio_params(AccountSid=TWILIO_ACCOUNT))
    assert response.status_code == 200
    assert row_counts()["InboundEntry"] == 1
