"""Stanza ids of replies, and what run_xmpp journals parsed back (no server needed)."""

from __future__ import annotations

import pytest

from apps.gateways.base import MalformedPayload
from apps.gateways.xmpp import ids
from apps.gateways.xmpp.gateway import XmppGateway
from apps.gateways.xmpp.services import StanzaRecord


def test_a_reply_id_names_its_message_and_part_and_cannot_be_forged():
    stanza_id = ids.stanza_id(42, 1)
    assert stanza_id == ids.stanza_id(42, 1)  # the same on every attempt
    assert ids.message_of(stanza_id) == (42, 1)
    forged = stanza_id.replace("sd-42-", "sd-43-")
    assert ids.message_of(forged) is None
    assert ids.message_of("1c3a01bffaff40e99fae2f415cc684b0") is None
    assert ids.message_of("sd-42-1-" + "0" * 16) is None


def test_a_journalled_message_parses_back_with_its_links():
    record = StanzaRecord(
        key="FonfgscjERH4dSTNpRE1EyfL",
        sender="alice@desk.localhost",
        sender_full="alice@desk.localhost/phone",
        recipient="support@desk.localhost",
        body="Hi, my order #123 is late https://up.example/f/photo.jpg",
        stanza_id="FonfgscjERH4dSTNpRE1EyfL",
        nick="Alice",
        sent_at="2026-12-05T08:04:59+00:00",
        archived=True,
        oob=(("https://up.example/f/photo.jpg", ""), ("ftp://x/y", "")),
    )
    [inbound] = XmppGateway().parse_inbound(record.payload(inbox_id=7))
    assert (inbound.channel, inbound.sender, inbound.inbox_id) == ("xmpp", "alice@desk.localhost", 7)
    assert inbound.provider_message_id == "FonfgscjERH4dSTNpRE1EyfL"
    assert inbound.sender_name == "Alice"
    assert [a.url for a in inbound.attachments] == ["https://up.example/f/photo.jpg"]  # http(s) only
    assert inbound.meta["xmpp"]["archived"] is True
    assert inbound.received_at.isoformat() == "2026-12-05T08:04:59+00:00"


@pytest.mark.parametrize("missing", ["from", "inbox", "stanza_id"])
def test_a_payload_without_sender_inbox_or_id_is_flagged(missing):
    payload = StanzaRecord(key="k", sender="alice@desk.localhost", sender_full="", recipient="s@d", body="hi").payload(
        inbox_id=7
    )
    payload[missing] = [""]
    with pytest.raises(MalformedPayload):
        XmppGateway().parse_inbound(payload)
