"""Which inbox and conversation a parsed mail belongs to (docs/EMAIL.md §3).

The bus hands each batch of mail to `email_receive_batch` (registered in apps.mail.apps), inside
its transaction; `email_receive` routes and stores each mail the parser turned into an
`InboundMessage`, with what the batch shares read once (`MailBatch`). Threading, in order: a `reply+<token>` recipient;
In-Reply-To/References against every Message-ID we stored; a subject token `[#1234]`; else a
new conversation. A mail joins an existing conversation only when its sender (From) is an
identity of that conversation's contact, or when the reply token proves it; otherwise it opens
a new conversation flagged as suspicious. Reply-To is recorded, never trusted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading as _threads
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db.models.functions import Lower

from apps.accounts.models import Inbox
from apps.bus.models import InboundEntry
from apps.bus.registry import Delivery
from apps.contacts.models import Identity
from apps.contacts.services import identity_resolve
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_receive, receiver_each_together
from apps.gateways.base import InboundMessage, Unroutable
from apps.mail.acks import email_auto_ack
from apps.mail.addresses import base_address, clean_ids, one_line, reply_token_of, subject_tokens
from apps.mail.bounces import email_bounce_apply
from apps.mail.models import EmailInboxSettings, EmailMessageId, EmailThread
from apps.mail.services import email_inbound_record

log = logging.getLogger(__name__)

SUBJECT_FLAG_CHARS = 200
MAX_THREAD_IDS = 100


@dataclass
class Threading:
    conversation: Conversation | None = None
    how: str = "new"  # token | headers | subject | new
    suspicious: str = ""


def _addresses(items: Any) -> list[str]:
    out = []
    for item in items or []:
        address = item.get("address", "") if isinstance(item, dict) else str(item)
        if address:
            out.append(address.strip().lower())
    return out


def mail_recipients(mail: dict[str, Any], inbound: InboundMessage) -> list[str]:
    """Everyone the mail was for, most telling first: envelope, Delivered-To, To, Cc."""
    envelope = mail.get("envelope") or {}
    ordered = [
        *_addresses(envelope.get("rcpt_tos")),
        *_addresses(mail.get("delivered_to")),
        *_addresses(mail.get("to")),
        *_addresses(mail.get("cc")),
    ]
    if inbound.recipient:
        ordered.append(inbound.recipient.strip().lower())
    return list(dict.fromkeys(ordered))


def _wanted_addresses(recipients: list[str]) -> list[str]:
    return list(dict.fromkeys([*recipients, *(base_address(a) for a in recipients)]))


class MailBatch:
    """What the mails of one drain batch share, read with one query per kind of row instead of
    one per mail: the email inboxes their recipients and senders name, the messages already
    stored for their dedupe keys, their senders' identities, and the row locks of those
    senders' contacts (taken in id order, before any mail is stored, as `ReceiveBatch` does).
    The inboxes' settings (auto-acknowledgement) come with the inboxes.

    Only reads are shared, never decisions: a mail the batch knows nothing about (a new
    sender, an inbox named by id) is looked up as one alone would be. A mail that turned out
    unroutable rolled back its savepoint, and with it what it wrote and locked: the batch then
    forgets every identity and lock it learned after its start (`rolled_back`)."""

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        mails = [(d, dict(d.inbound.meta.get("email") or {})) for d in deliveries]
        wanted: set[str] = set()
        senders: set[str] = set()
        for delivery, mail in mails:
            if mail.get("bounce"):
                continue
            wanted.update(_wanted_addresses(mail_recipients(mail, delivery.inbound)))
            sender = _sender_of(mail, delivery.inbound)
            if sender:
                senders.add(sender)
        self.inboxes: dict[str, Inbox] = {}  # lower-cased address -> email inbox
        self.ack_settings: dict[int, EmailInboxSettings | None] = {}
        if wanted | senders:
            for inbox in (
                Inbox.objects.annotate(addr=Lower("address"))
                .filter(channel=Inbox.Channel.EMAIL, addr__in=wanted | senders)
                .select_related("email_settings")
            ):
                self.inboxes.setdefault(inbox.addr, inbox)
                try:
                    self.ack_settings[inbox.pk] = inbox.email_settings
                except EmailInboxSettings.DoesNotExist:
                    self.ack_settings[inbox.pk] = None
        self.inboxes_by_id: dict[int, Inbox | None] = {}
        provider_ids = {d.inbound.provider_message_id for d in deliveries}
        self.stored: set[tuple[int, str | None]] = set(
            Message.objects.filter(provider_id__in=provider_ids).values_list("inbox_id", "provider_id")
        )
        self.identities: dict[str, Identity] = {}
        self.locked_contacts: set[int] = set()
        if senders:
            # The identities, and their contacts locked in contact-id order, in one query.
            for identity in (
                Identity.objects.select_related("contact")
                .select_for_update(no_key=True, of=("contact",))
                .filter(kind=Identity.Kind.EMAIL, address__in=senders)
                .order_by("contact_id", "id")
            ):
                self.identities[identity.address] = identity
                self.locked_contacts.add(identity.contact_id)
        self._at_start = (dict(self.identities), set(self.locked_contacts))

    def inbox_for(self, recipients: list[str], inbox_id: int | None) -> Inbox | None:
        if inbox_id is not None:
            if inbox_id not in self.inboxes_by_id:
                self.inboxes_by_id[inbox_id] = _inbox_for(recipients, inbox_id)
            return self.inboxes_by_id[inbox_id]
        for address in _wanted_addresses(recipients):
            if address in self.inboxes:
                return self.inboxes[address]
        return None

    def is_inbox_address(self, address: str) -> bool:
        return address in self.inboxes

    def identity(self, address: str, display: str) -> Identity:
        identity = self.identities.get(address)
        if identity is None:
            identity = identity_resolve(kind=Identity.Kind.EMAIL, address=address, display=display)
            self.identities[address] = identity
        return identity

    def settings_of(self, inbox: Inbox) -> EmailInboxSettings | None:
        if inbox.pk not in self.ack_settings:
            self.ack_settings[inbox.pk] = EmailInboxSettings.objects.filter(inbox=inbox).first()
        return self.ack_settings[inbox.pk]

    def rolled_back(self) -> None:
        identities, locked = self._at_start
        self.identities, self.locked_contacts = dict(identities), set(locked)


class _Current(_threads.local):
    batch: MailBatch | None = None


_current = _Current()


@contextmanager
def mail_batch(deliveries: Sequence[Delivery]) -> Iterator[MailBatch]:
    _current.batch = batch = MailBatch(deliveries)
    try:
        yield batch
    finally:
        _current.batch = None


def _receive_one(*, entry: InboundEntry, inbound: InboundMessage) -> Message | None:
    try:
        return email_receive(entry=entry, inbound=inbound)
    except Unroutable:
        if _current.batch is not None:
            _current.batch.rolled_back()
        raise


_receive_each = receiver_each_together(_receive_one)


def email_receive_batch(deliveries: Sequence[Delivery]) -> None:
    """The bus receiver of mail: each mail routed and stored in its own savepoint, in journal
    order (`email_receive`), with what the batch's mails share read once (`MailBatch`)."""
    with mail_batch(deliveries):
        _receive_each(deliveries)


def _sender_of(mail: dict[str, Any], inbound: InboundMessage) -> str:
    return (inbound.sender or (mail.get("envelope") or {}).get("mail_from") or "").strip().lower()


def _thread_by_token(recipients: list[str]) -> EmailThread | None:
    tokens = [t for t in (reply_token_of(a) for a in recipients) if t]
    if not tokens:
        return None
    return (
        EmailThread.objects.select_related("conversation__inbox")
        .filter(reply_token__in=tokens)
        .order_by("created_at")
        .first()
    )


def _inbox_for(recipients: list[str], inbox_id: int | None) -> Inbox | None:
    if inbox_id is not None:
        return Inbox.objects.filter(pk=inbox_id, channel=Inbox.Channel.EMAIL).first()
    wanted = _wanted_addresses(recipients)
    if not wanted:
        return None
    inboxes = {
        inbox.addr: inbox
        for inbox in Inbox.objects.annotate(addr=Lower("address")).filter(channel=Inbox.Channel.EMAIL, addr__in=wanted)
    }
    for address in wanted:
        if address in inboxes:
            return inboxes[address]
    return None


def _takes_mail_for(conversation: Conversation, inbox: Inbox) -> bool:
    """A conversation is reachable through the inbox it lives in, or the one its mail goes out from
    (an SMS conversation an agent answered by email)."""
    if conversation.inbox_id == inbox.pk:
        return True
    thread = getattr(conversation, "email_thread", None)
    return thread is not None and thread.send_inbox_id == inbox.pk


def _candidates_by_headers(mail: dict[str, Any], inbox: Inbox) -> list[Conversation]:
    # The parent first (In-Reply-To), then References from the newest back.
    ids = clean_ids([*(mail.get("in_reply_to") or []), *reversed(mail.get("references") or [])])[:MAX_THREAD_IDS]
    if not ids:
        return []
    rows = EmailMessageId.objects.select_related("conversation__inbox", "conversation__email_thread").filter(
        rfc_id__in=ids
    )
    rank = {rfc_id: i for i, rfc_id in enumerate(ids)}
    found: dict[int, Conversation] = {}
    for row in sorted(rows, key=lambda r: (rank[r.rfc_id], r.conversation_id)):
        if _takes_mail_for(row.conversation, inbox):
            found.setdefault(row.conversation_id, row.conversation)
    return list(found.values())


def _candidates_by_subject(subject: str, inbox: Inbox) -> list[Conversation]:
    tokens = subject_tokens(subject)
    if not tokens:
        return []
    rows = {
        c.pk: c
        for c in Conversation.objects.select_related("inbox", "email_thread").filter(pk__in=tokens)
        if _takes_mail_for(c, inbox)
    }
    return [rows[t] for t in dict.fromkeys(tokens) if t in rows]


def _thread_mail(mail: dict[str, Any], inbox: Inbox, identity: Identity, sender: str) -> Threading:
    for how, candidates in (
        ("headers", _candidates_by_headers(mail, inbox)),
        ("subject", _candidates_by_subject(mail.get("subject") or "", inbox)),
    ):
        if not candidates:
            continue
        for conversation in candidates:
            if conversation.contact_id == identity.contact_id:
                return Threading(conversation=conversation, how=how)
        pointed = candidates[0]
        by = "its In-Reply-To/References headers" if how == "headers" else "the [#id] in its subject"
        return Threading(
            how="new",
            suspicious=(
                f"This mail points at conversation #{pointed.pk} by {by}, but its sender {sender} is not an "
                "address of that conversation's customer, so it was kept apart in a new conversation. "
                "Check who wrote it before sharing anything."
            ),
        )
    return Threading()


def _verify_by_token(identity: Identity, conversation: Conversation) -> None:
    """A mail from an address we mailed this conversation's reply address to proves the sender
    reads that mailbox: the identity is verified (and may then be merged)."""
    if identity.verified:
        return
    mailed = Message.objects.filter(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        identity=identity,
        status__in=[Message.Status.SENT, Message.Status.DELIVERED, Message.Status.READ],
    ).exists()
    if mailed:
        identity.verified = True
        identity.save(update_fields=["verified"])


def _reply_to_warning(mail: dict[str, Any], sender: str, conversation: Conversation) -> str:
    """A Reply-To outside the customer's addresses on a mail that joined their conversation:
    shown to the agent (replies always go to the identity, never to Reply-To)."""
    others = [a for a in _addresses(mail.get("reply_to")) if a != sender]
    if not others:
        return ""
    known = set(
        Identity.objects.filter(contact_id=conversation.contact_id, kind=Identity.Kind.EMAIL).values_list(
            "address", flat=True
        )
    )
    strange = [a for a in others if a not in known]
    if not strange:
        return ""
    return (
        f"Reply-To asks for answers at {', '.join(strange)}, which is not an address of this customer. "
        f"Replies go to {sender} only."
    )


def email_receive(*, entry: InboundEntry, inbound: InboundMessage) -> Message | None:
    mail: dict[str, Any] = dict(inbound.meta.get("email") or {})
    if mail.get("bounce"):
        # A delivery report about our mail: it fails the reply it is about, it is not a customer
        # message (whichever of our addresses it came back to).
        email_bounce_apply(entry=entry, bounce=mail["bounce"])
        return None
    batch = _current.batch
    recipients = mail_recipients(mail, inbound)
    token_thread = _thread_by_token(recipients)
    if token_thread is not None:
        inbox: Inbox | None = token_thread.conversation.inbox
    elif batch is not None:
        inbox = batch.inbox_for(recipients, inbound.inbox_id)
    else:
        inbox = _inbox_for(recipients, inbound.inbox_id)
    if inbox is None:
        raise Unroutable(f"no email inbox has any of the addresses {', '.join(recipients) or '(none)'}")
    sender = _sender_of(mail, inbound)
    if not sender or "@" not in sender:
        raise Unroutable("the mail has no sender address")
    if (
        batch.is_inbox_address(sender)
        if batch is not None
        else Inbox.objects.annotate(addr=Lower("address")).filter(channel=Inbox.Channel.EMAIL, addr=sender).exists()
    ):
        raise Unroutable(f"mail from our own address {sender} (a mail loop, or a test): kept, not threaded")
    display = one_line(inbound.sender_display or sender, 320)
    if batch is not None:
        identity = batch.identity(sender, display)
    else:
        identity = identity_resolve(kind=Identity.Kind.EMAIL, address=sender, display=display)
    if token_thread is not None:
        threading = Threading(conversation=token_thread.conversation, how="token")
        _verify_by_token(identity, token_thread.conversation)
    else:
        threading = _thread_mail(mail, inbox, identity, sender)
    name = one_line(inbound.sender_name, 200)
    if name and not identity.contact.name and not threading.suspicious:
        # A display name is the sender's claim; one that came with a spoofing attempt ("Jane Doe"
        # <mallory@…>) would pass the impostor off as the customer in every list.
        identity.contact.name = name
        identity.contact.save(update_fields=["name"])
    conversation = threading.conversation
    message_warning = _reply_to_warning(mail, sender, conversation) if conversation else ""
    automatic = bool(mail.get("auto"))
    flags: dict[str, Any] = {
        "subject": one_line(mail.get("subject") or "", SUBJECT_FLAG_CHARS),
        "thread": threading.how,
    }
    if mail.get("html"):
        flags["html"] = True
    if automatic:
        flags["auto"] = True
    suspicious = threading.suspicious or message_warning
    if suspicious:
        flags["suspicious"] = suspicious
    target = conversation.inbox if conversation else inbox
    message, created = message_receive(
        inbox=target,
        inbound=dataclasses.replace(inbound, meta={"email": flags}),
        received_at=entry.received_at,
        conversation=conversation,
        new_conversation=conversation is None,
        identity=identity,
        automatic=automatic,
        # What the batch read: no message has this mail's dedupe key in the inbox yet, and the
        # sender's contact is locked already.
        known_new=batch is not None and (target.pk, inbound.provider_message_id) not in batch.stored,
        contact_locked=batch is not None and identity.contact_id in batch.locked_contacts,
    )
    if batch is not None:
        batch.stored.add((target.pk, inbound.provider_message_id))
        batch.locked_contacts.add(identity.contact_id)
    if not created:
        return message
    email_inbound_record(
        entry=entry,
        inbound=inbound,
        message=message,
        suspicious_reason=suspicious,
        conversation_suspicious=threading.suspicious,
        thread=getattr(conversation, "email_thread", None) if conversation else None,
        new_conversation=conversation is None,
    )
    if conversation is None and not automatic and not threading.suspicious:
        if batch is not None:
            email_auto_ack(message=message, inbox=inbox, identity=identity, mail=mail, config=batch.settings_of(inbox))
        else:
            email_auto_ack(message=message, inbox=inbox, identity=identity, mail=mail)
    return message
