"""`make run`: serve runs the XMPP connections on a thread when an XMPP account exists."""

from __future__ import annotations

import threading

import pytest

from apps.gateways.xmpp.embedded import start_xmpp_if_configured
from apps.gateways.xmpp.live import live
from tests.gateways.xmpp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_nothing_starts_without_an_xmpp_account(xmpp_settings):
    assert start_xmpp_if_configured() is None


def test_nothing_starts_when_embedding_is_off(xmpp_inbox, xmpp_settings):
    xmpp_settings.XMPP_EMBEDDED = False
    assert start_xmpp_if_configured() is None


def test_an_xmpp_account_is_connected_in_process(xmpp_inbox, xmpp_settings):
    stop = start_xmpp_if_configured()
    assert stop is not None
    try:
        client = wait_for(lambda: live.client(xmpp_inbox.pk), what="the in-process connection")
        wait_for(lambda: client.ready, what="its session")
        assert client.boundjid.bare == xmpp_inbox.address
    finally:
        stop.set()
        wait_for(lambda: live.client(xmpp_inbox.pk) is None, what="the connection to close")
        wait_for(lambda: not any(t.name == "xmpp" for t in threading.enumerate()), what="the thread to end")
