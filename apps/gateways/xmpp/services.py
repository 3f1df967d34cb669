"""The database side of `run_xmpp`: what its connections hand over, made durable through the
bus (the inbound journal, status receipts, ephemeral typing frames). Plain synchronous
functions, called from run_xmpp's database thread, never from its event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from apps.bus.events import EventType, group_for_inbox, publish_ephemeral
from apps.bus.services import inbound_accept, status_receipt_record
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.gateways.base import DeliveryStatus
from apps.gateways.xmpp import ids
from apps.gateways.xmpp.models import XmppAccount

log = logging.getLogger(__name__)

JOURNAL_CHANNEL = "xmpp"
KIND = "xmpp"
RECEIPT_SOURCE = "xmpp"


def journal_source(jid: str) -> str:
    """The journal's dedupe scope: one account's archive (stanza-ids are unique within it)."""
    return f"xmpp:{jid}"


@dataclass(frozen=True)
class AccountConfig:
    id: int
    inbox_id: int
    jid: str
    password: str
    host: str
    port: int | None
    upload_domain: str
    cursor: str
    cursor_at: dt.datetime | None


def xmpp_accounts() -> list[AccountConfig]:
    """The enabled accounts run_xmpp keeps a connection for."""
    return [
        AccountConfig(
            id=a.pk,
            inbox_id=a.inbox_id,
            jid=a.jid.lower(),
            password=a.password,
            host=a.host,
            port=a.port,
            upload_domain=a.upload_domain,
            cursor=a.archive_cursor,
            cursor_at=a.archive_cursor_at,
        )
        for a in XmppAccount.objects.filter(enabled=True).order_by("id")
    ]


def xmpp_cursor(account_id: int) -> tuple[str, dt.datetime | None]:
    row = XmppAccount.objects.filter(pk=account_id).values_list("archive_cursor", "archive_cursor_at").first()
    return (row[0], row[1]) if row else ("", None)


def xmpp_cursor_save(*, account_id: int, cursor: str, at: dt.datetime | None) -> None:
    """Everything up to archive id `cursor` is in the journal (saved only after it committed)."""
    XmppAccount.objects.filter(pk=account_id).update(archive_cursor=cursor[:255], archive_cursor_at=at)


@dataclass(frozen=True)
class StanzaRecord:
    """An inbound chat message, as run_xmpp read it (live, offline or from the archive)."""

    key: str  # the dedupe key: the server's stanza-id (the archive id)
    sender: str  # bare JID, lower-cased
    sender_full: str
    recipient: str  # the account's bare JID
    body: str
    stanza_id: str = ""
    origin_id: str = ""
    id: str = ""
    nick: str = ""
    sent_at: str = ""  # the <delay> stamp (offline or archived copies), ISO 8601
    archived: bool = False
    oob: tuple[tuple[str, str], ...] = ()  # (url, description) of files shared as links
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self, inbox_id: int) -> dict[str, list[str]]:
        return {
            "inbox": [str(inbox_id)],
            "from": [self.sender],
            "from_full": [self.sender_full],
            "to": [self.recipient],
            "body": [self.body],
            "stanza_id": [self.stanza_id or self.key],
            "origin_id": [self.origin_id],
            "id": [self.id],
            "nick": [self.nick],
            "sent_at": [self.sent_at],
            "archived": ["1" if self.archived else ""],
            "oob": [url for url, _ in self.oob],
            "oob_desc": [desc for _, desc in self.oob],
        }


def xmpp_accept(*, account: AccountConfig, record: StanzaRecord, raw: bytes) -> bool:
    """Into the inbound journal; a copy already there (live vs archive, a replay) is not
    stored again (the journal's (source, provider_message_id) constraint). True when new."""
    _entry, created = inbound_accept(
        source=journal_source(account.jid),
        provider_message_id=record.key,
        channel=JOURNAL_CHANNEL,
        sender=record.sender,
        payload=record.payload(account.inbox_id),
        raw=raw,
    )
    return created


def _conversation_of(inbox_id: int, address: str) -> int | None:
    return (
        Conversation.objects.filter(
            inbox_id=inbox_id, contact__identities__kind=KIND, contact__identities__address=address
        )
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_activity_at")
        .values_list("id", flat=True)
        .first()
    )


def xmpp_customer_typing(*, inbox_id: int, sender: str, on: bool) -> bool:
    """A customer's chat state (XEP-0085) → the console's typing line, never stored."""
    conversation_id = _conversation_of(inbox_id, sender)
    if conversation_id is None:
        return False  # nothing written yet: no conversation to show it in
    publish_ephemeral(
        group_for_inbox(inbox_id),
        {"type": EventType.TYPING, "conversation": conversation_id, "data": {"on": on, "xmpp": sender}},
    )
    return True


def xmpp_receipt(*, stanza_id: str, sender: str, status: str, error_code: str = "", error_text: str = "") -> bool:
    """A receipt (XEP-0184) or an error bounce for one of our stanzas → the message's status.
    Ids we did not make (or a forged tag) are ignored."""
    parsed = ids.message_of(stanza_id)
    if parsed is None:
        return False
    message_id, _part = parsed
    # Only the recipient can report on it.
    to = Message.objects.filter(pk=message_id, identity__kind=KIND).values_list("identity__address", flat=True).first()
    if to is None or to != sender:
        return False
    return status_receipt_record(
        source=RECEIPT_SOURCE,
        status=DeliveryStatus(
            provider_message_id=ids.stanza_id(message_id, 0),
            status=status,
            error_code=error_code,
            error_message=error_text,
        ),
        payload={"from": sender, "id": stanza_id},
        message_ref=message_id,
    )


def xmpp_typing_target(*, conversation_id: int, inbox_ids: set[int]) -> tuple[int, str] | None:
    """Where an agent's typing in a conversation goes: (inbox id, the customer's JID), when the
    conversation is one of these XMPP inboxes' and the customer last wrote over XMPP."""
    row = (
        Conversation.objects.filter(pk=conversation_id, inbox_id__in=inbox_ids)
        .values_list("inbox_id", "last_identity__kind", "last_identity__address", "contact_id")
        .first()
    )
    if row is None:
        return None
    inbox_id, kind, address, contact_id = row
    if kind == KIND and address:
        return inbox_id, address
    other = (
        Identity.objects.filter(contact_id=contact_id, kind=KIND)
        .order_by("-created_at")
        .values_list("address", flat=True)
        .first()
    )
    return (inbox_id, other) if other else None
