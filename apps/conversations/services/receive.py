"""Receiving a customer's message: stored once, threaded into their conversation, assigned,
and told to the consoles."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.assignment.services import AssignPool, conversation_auto_assign
from apps.bus.events import EventType
from apps.bus.registry import Delivery, Receiver, receiver_each
from apps.contacts.models import Contact, Identity
from apps.contacts.services import Sender, identities_resolve_verified, identity_resolve, identity_set_opt_out
from apps.conversations.events import emit_conversation, emit_message, message_preview, notify_assigned
from apps.conversations.hooks import inbound_claim
from apps.conversations.media import attachment_store, attachments_fetch_later
from apps.conversations.models import Attachment, Conversation, Message
from apps.conversations.services.dispatch import Routed, conversation_route_on_receive, queue_key, queue_reply_maybe
from apps.conversations.services.timeline import activity_add
from apps.core import rawsql
from apps.gateways.base import InboundMessage
from apps.triage.services import message_triage


def inbox_for_inbound(channel: str, inbound: InboundMessage) -> Inbox | None:
    """The inbox a message was written to: the one the gateway named, or the one of the journal
    `channel` with the recipient's address (SMS and WhatsApp share the number's inbox)."""
    if inbound.inbox_id is not None:
        return Inbox.objects.filter(pk=inbound.inbox_id).first()
    return Inbox.objects.filter(channel=channel, address=inbound.recipient).order_by("id").first()


class ReceiveBatch:
    """What a batch of messages threaded by address needs, read with one query per kind of row
    instead of one per message: the inboxes, the messages already stored, the senders' identities,
    their contacts (locked, in id order), and their open conversations (locked). Conversations
    are written once at the end of the batch, however many of its messages they got.

    Everything read here is read again by `message_receive` when the batch does not know it (a
    new customer, a conversation it opens), so the batch only saves queries, never decides.
    """

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        self.inboxes: dict[tuple[str, str], Inbox | None] = {}
        self.inboxes_by_id: dict[int, Inbox | None] = {}
        self.stored: set[tuple[int, str | None]] = set()
        self.identities: dict[tuple[str, str], Identity] = {}
        self.locked_contacts: set[int] = set()
        # (contact id, inbox id) -> the newest conversation that is not resolved (None: none).
        self.open: dict[tuple[int, int], Conversation | None] = {}
        self.dirty: dict[int, Conversation] = {}
        # Queues where nobody could take a conversation: (inbox, team, required skills or None);
        # routing sends conversations of one inbox to different teams.
        self.unstaffed: set[tuple[int, int | None, frozenset[int] | None]] = set()
        self.assign = AssignPool()  # candidates locked and counted once per inbox and team
        self._load(deliveries)

    def _load(self, deliveries: Sequence[Delivery]) -> None:
        by_channel: dict[str, set[str]] = {}
        ids: set[int] = set()
        for d in deliveries:
            if d.inbound.inbox_id is not None:
                ids.add(d.inbound.inbox_id)
            else:
                by_channel.setdefault(d.entry.channel, set()).add(d.inbound.recipient)
        provider_ids = {d.inbound.provider_message_id for d in deliveries}
        addresses = {(d.inbound.channel, d.inbound.sender) for d in deliveries}
        if rawsql.supported():
            inbox_ids = self._read(ids, by_channel, provider_ids, addresses)
        else:
            for inbox in Inbox.objects.filter(pk__in=ids):
                self.inboxes_by_id[inbox.pk] = inbox
            for channel, recipients in by_channel.items():
                for inbox in Inbox.objects.filter(channel=channel, address__in=recipients).order_by("-id"):
                    self.inboxes[(channel, inbox.address)] = inbox  # the lowest id wins, as one by one
            inbox_ids = {i.pk for i in (*self.inboxes.values(), *self.inboxes_by_id.values()) if i is not None}
            self.stored = set(
                Message.objects.filter(inbox_id__in=inbox_ids, provider_id__in=provider_ids).values_list(
                    "inbox_id", "provider_id"
                )
            )
            if addresses:
                for identity in Identity.objects.filter(
                    kind__in={k for k, _ in addresses}, address__in={a for _, a in addresses}
                ):
                    if (identity.kind, identity.address) in addresses:
                        self.identities[(identity.kind, identity.address)] = identity
        # New customers (messages that will be stored: their inbox exists, not seen before)
        # get their contacts and identities together, before any row lock.
        new_senders = [
            Sender(
                kind=d.inbound.channel,
                address=d.inbound.sender,
                display=d.inbound.sender_display,
                name=d.inbound.sender_name,
            )
            for d in deliveries
            if (d.inbound.channel, d.inbound.sender) not in self.identities
            and (known := self._known_inbox(d)) is not None
            and (known.pk, d.inbound.provider_message_id) not in self.stored
        ]
        created: set[int] = set()  # contacts written by this batch: nobody else sees them yet
        if new_senders:
            self.identities.update(identities_resolve_verified(new_senders, created_contacts=created))
        self.locked_contacts = set(created)
        for contact_id in created:
            for inbox_id in inbox_ids:
                self.open[(contact_id, inbox_id)] = None  # a new customer has no conversation yet
        contact_ids = sorted({i.contact_id for i in self.identities.values()} - created)
        if contact_ids and rawsql.supported():
            self._lock(contact_ids, inbox_ids)
        elif contact_ids:
            # One customer's messages are threaded one at a time (see message_receive).
            self.locked_contacts.update(
                Contact.objects.select_for_update(no_key=True)
                .filter(pk__in=contact_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            for conversation in (
                Conversation.objects.select_for_update(no_key=True)
                .filter(contact_id__in=contact_ids, inbox_id__in=inbox_ids)
                .exclude(status=Conversation.Status.RESOLVED)
                .order_by("last_activity_at")
            ):
                self.open[(conversation.contact_id, conversation.inbox_id)] = conversation  # the newest wins
            for contact_id in contact_ids:
                for inbox_id in inbox_ids:
                    self.open.setdefault((contact_id, inbox_id), None)

    # PostgreSQL: the batch's reads in two round trips, by SQL written once (apps.core.rawsql):
    # at light load every message is a batch of its own, and the ORM's building of these five
    # statements was a third of the drain's CPU for a known customer's message. Each statement of
    # a round trip runs with its own snapshot (READ COMMITTED), as when sent one by one.
    def _read(
        self,
        ids: set[int],
        by_channel: dict[str, set[str]],
        provider_ids: set[str],
        addresses: set[tuple[str, str]],
    ) -> set[int]:
        """The inboxes, the messages already stored and the senders' identities, in one round
        trip, none locked; returns the ids of the inboxes found."""
        pairs = [(channel, recipient) for channel, recipients in by_channel.items() for recipient in recipients]
        inbox_sql, stored_sql, identity_sql = _read_sql()
        inbox_rows, stored, identity_rows = rawsql.run(
            [
                (inbox_sql, [list(ids), [c for c, _ in pairs], [r for _, r in pairs]]),
                (stored_sql, [list(provider_ids)]),
                (identity_sql, [list({k for k, _ in addresses}), list({a for _, a in addresses})]),
            ]
        )
        inboxes = rawsql.instances(Inbox, inbox_rows)
        self.stored = {(inbox_id, provider_id) for inbox_id, provider_id in stored}
        identities = rawsql.instances(Identity, identity_rows)
        wanted = set(pairs)
        for inbox in inboxes:  # highest id first: the lowest id wins, as one by one
            if inbox.pk in ids:
                self.inboxes_by_id[inbox.pk] = inbox
            if (inbox.channel, inbox.address) in wanted:
                self.inboxes[(inbox.channel, inbox.address)] = inbox
        for identity in identities:
            if (identity.kind, identity.address) in addresses:
                self.identities[(identity.kind, identity.address)] = identity
        return {i.pk for i in (*self.inboxes.values(), *self.inboxes_by_id.values()) if i is not None}

    def _lock(self, contact_ids: list[int], inbox_ids: set[int]) -> None:
        """Lock the contacts (in id order), then their open conversations in these inboxes (the
        second statement's snapshot is taken after the first's locks: it sees every conversation
        committed by whoever held them), in one round trip."""
        contacts_sql, conversations_sql = _lock_sql()
        contacts, conversations = rawsql.run(
            [(contacts_sql, [contact_ids]), (conversations_sql, [contact_ids, list(inbox_ids)])]
        )
        # One customer's messages are threaded one at a time (see message_receive).
        self.locked_contacts.update(pk for (pk,) in contacts)
        for conversation in rawsql.instances(Conversation, conversations):
            self.open[(conversation.contact_id, conversation.inbox_id)] = conversation  # the newest wins
        for contact_id in contact_ids:
            for inbox_id in inbox_ids:
                self.open.setdefault((contact_id, inbox_id), None)

    def _known_inbox(self, delivery: Delivery) -> Inbox | None:
        if delivery.inbound.inbox_id is not None:
            return self.inboxes_by_id.get(delivery.inbound.inbox_id)
        return self.inboxes.get((delivery.entry.channel, delivery.inbound.recipient))

    def inbox(self, channel: str, inbound: InboundMessage) -> Inbox | None:
        if inbound.inbox_id is not None:
            if inbound.inbox_id not in self.inboxes_by_id:
                self.inboxes_by_id[inbound.inbox_id] = inbox_for_inbound(channel, inbound)
            return self.inboxes_by_id[inbound.inbox_id]
        key = (channel, inbound.recipient)
        if key not in self.inboxes:
            self.inboxes[key] = inbox_for_inbound(channel, inbound)
        return self.inboxes[key]

    def flush(self) -> None:
        # With its assignee: assignment in a batch only sets it (the row is locked, or new).
        if rawsql.supported():
            # One statement for the batch's conversations (one UPDATE each through save()), sent
            # with assignment's writes in one round trip.
            # Prepared when each statement writes one row (a batch of one: light load); a VALUES
            # list per row would make a text, and a prepared statement, per batch size.
            single = len(self.dirty) <= 1 and self.assign.single()
            statements = []
            if self.dirty:
                statements.append(
                    rawsql.update_statement(list(self.dirty.values()), [*CONVERSATION_FIELDS, "assignee"])
                )
            statements += self.assign.statements()  # (which forgets them)
            self.dirty.clear()
            if statements:
                rawsql.run(statements, prepare=single)
            return
        for conversation in self.dirty.values():
            conversation.save(update_fields=[*CONVERSATION_FIELDS, "assignee"])
        self.dirty.clear()
        self.assign.flush()


# What receiving a message changes on its conversation.
CONVERSATION_FIELDS = [
    "status",
    "snoozed_until",
    "last_seq",
    "inbound_count",
    "last_activity_at",
    "last_identity",
    "last_channel",
    "waiting_since",
    "last_message",
    "noise",
    "triage_reason",
    "team",  # routing (apps.conversations.services.dispatch)
    "priority",
    "resolved_at",
]


_READ_SQL: tuple[str, str, str] | None = None
_LOCK_SQL: tuple[str, str] | None = None


def _read_sql() -> tuple[str, str, str]:
    global _READ_SQL
    if _READ_SQL is None:
        _READ_SQL = (
            f"{rawsql.select_sql(Inbox)} WHERE t.id = ANY(%s::bigint[])"
            " OR (t.channel, t.address) IN (SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY t.id DESC",
            f"SELECT inbox_id, provider_id FROM {rawsql.qn(Message._meta.db_table)} WHERE provider_id = ANY(%s::text[])",
            f"{rawsql.select_sql(Identity)} WHERE t.kind = ANY(%s::text[]) AND t.address = ANY(%s::text[])",
        )
    return _READ_SQL


def _lock_sql() -> tuple[str, str]:
    global _LOCK_SQL
    if _LOCK_SQL is None:
        _LOCK_SQL = (
            f"SELECT id FROM {rawsql.qn(Contact._meta.db_table)} WHERE id = ANY(%s::bigint[])"
            " ORDER BY id FOR NO KEY UPDATE",
            f"{rawsql.select_sql(Conversation)} WHERE t.contact_id = ANY(%s::bigint[])"
            f" AND t.inbox_id = ANY(%s::bigint[]) AND t.status <> '{Conversation.Status.RESOLVED.value}'"
            " ORDER BY t.last_activity_at FOR NO KEY UPDATE",
        )
    return _LOCK_SQL


def messages_receive(deliveries: Sequence[Delivery]) -> None:
    """The bus receiver of channels threaded by address (SMS, WhatsApp, …): each message goes to
    the inbox it was written to and its sender's open conversation there, in journal order."""
    batch = ReceiveBatch(deliveries)
    for delivery in deliveries:
        inbox = batch.inbox(delivery.entry.channel, delivery.inbound)
        if inbox is None:
            delivery.unroutable = f"no {delivery.entry.channel} inbox has the address {delivery.inbound.recipient!r}"
            continue
        delivery.message, _ = message_receive(
            inbox=inbox, inbound=delivery.inbound, received_at=delivery.entry.received_at, batch=batch
        )
    batch.flush()


class _Together(threading.local):
    pool: AssignPool | None = None


_together = _Together()


@contextmanager
def _receiving_together() -> Iterator[AssignPool]:
    pool = AssignPool()
    _together.pool = pool
    try:
        yield pool
        pool.flush()
    finally:
        _together.pool = None


def receiver_each_together(store: Callable[..., Any]) -> Receiver:
    """The bus receiver of a channel that routes each message itself (email): each delivery is
    stored by `store` in its own savepoint (apps.bus.registry.receiver_each), and the batch shares
    what assignment locked and counted, as `messages_receive` does. A delivery that turned out
    unroutable rolled its savepoint back, and the row locks with it, so assignment starts afresh."""
    each = receiver_each(store)

    def receive(deliveries: Sequence[Delivery]) -> None:
        with _receiving_together() as pool:
            for delivery in deliveries:
                each([delivery])
                if delivery.unroutable:
                    pool.flush()
                    pool.pools.clear()

    return receive


def message_receive(
    *,
    inbox: Inbox,
    inbound: InboundMessage,
    received_at: dt.datetime | None = None,
    conversation: Conversation | None = None,
    new_conversation: bool = False,
    identity: Identity | None = None,
    automatic: bool = False,
    batch: ReceiveBatch | None = None,
    known_new: bool = False,
    contact_locked: bool = False,
) -> tuple[Message, bool]:
    """Store a customer's message once, in their conversation, and tell the consoles.

    Idempotent: a message already stored for (inbox, provider id) is returned as it is.
    Must run inside a transaction (the bus's).

    By default the message goes to the contact's newest conversation in the inbox that is not
    resolved (a new one if there is none), and the sender's identity is resolved as verified.
    Channels that thread by themselves (email) pass the `conversation` (it is reopened when
    resolved, unless the message is `automatic`) or ask for a `new_conversation`, and the
    `identity` they resolved. An `automatic` message (an out-of-office, a list mail) is stored
    and shown, but never reopens or wakes a conversation nor makes the customer wait.

    Within a `ReceiveBatch` (the bus's batches), what the batch read is not read again and the
    conversation is written once for the batch. A channel that reads its batch itself (email)
    says what it knows instead: `known_new`, no message of the inbox has this provider id (it
    looked, in this transaction); `contact_locked`, it holds the row lock of the identity's
    contact.
    """
    if known_new:
        pass
    elif batch is None or (inbox.pk, inbound.provider_message_id) in batch.stored:
        existing = Message.objects.filter(inbox=inbox, provider_id=inbound.provider_message_id).first()
        if existing is not None:
            return existing, False
    now = received_at or timezone.now()
    known = batch.identities.get((inbound.channel, inbound.sender)) if batch is not None and identity is None else None
    if known is not None and known.verified:
        identity = known
    if identity is None:
        identity = identity_resolve(
            kind=inbound.channel,
            address=inbound.sender,
            display=inbound.sender_display,
            verified=True,
            name=inbound.sender_name,
        )
        if batch is not None:
            batch.identities[(inbound.channel, inbound.sender)] = identity
    # One contact's messages are threaded one at a time, so two first messages from a new
    # customer cannot open two conversations.
    if contact_locked:
        pass
    elif batch is None or identity.contact_id not in batch.locked_contacts:
        Contact.objects.select_for_update(no_key=True).filter(pk=identity.contact_id).first()
        if batch is not None:
            batch.locked_contacts.add(identity.contact_id)
    open_key = (identity.contact_id, inbox.pk)
    if conversation is not None:
        if conversation.inbox_id != inbox.pk:
            raise ValueError("a message threaded into a conversation is stored in that conversation's inbox")
        conversation = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
    elif not new_conversation and batch is not None and open_key in batch.open:
        conversation = batch.open[open_key]
    elif not new_conversation:
        conversation = (
            Conversation.objects.select_for_update(no_key=True)
            .filter(contact_id=identity.contact_id, inbox=inbox)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-last_activity_at")
            .first()
        )
    claimed = False
    if not automatic and not new_conversation and (conversation is None or conversation.status == "resolved"):
        # A message that would open a new conversation, or reopen the resolved one it replies to
        # (email threads by itself), may belong to a resolved one: the answer to its
        # satisfaction survey. Stored there as automatic, it reopens nothing.
        owner = inbound_claim(inbox=inbox, identity=identity, inbound=inbound, now=now, replying_to=conversation)
        if owner is not None:
            conversation, claimed, automatic = owner, True, True
    created = conversation is None
    changes: list[str] = []
    reopened = False
    # Triage (docs/triage.md): actionable or noise. Noise is stored and shown, but a conversation
    # that only has noise waits in nobody's queue; an actionable message makes it actionable.
    verdict = message_triage(
        text=inbound.text, channel=inbound.channel, meta=inbound.meta, identity=identity, automatic=automatic, now=now
    )
    if conversation is None:
        conversation = Conversation(
            inbox=inbox,
            contact_id=identity.contact_id,
            team_id=inbox.team_id,
            status=Conversation.Status.OPEN,
            last_activity_at=now,
            waiting_since=None if verdict.noise else now,
            last_identity=identity,
            last_channel=identity.kind,
            noise=verdict.noise,
            triage_reason=verdict.reason[:200],
        )
        if not rawsql.supported():
            conversation.save(force_insert=True)  # on PostgreSQL: with its first message (below)
    elif automatic:
        pass  # an automatic reply leaves the status alone
    elif conversation.status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        changes.append("status")
    elif conversation.status == Conversation.Status.RESOLVED:  # only when the caller chose it
        conversation.status = Conversation.Status.OPEN
        conversation.resolved_at = None  # reports: in the backlog again
        reopened = True
        changes.append("status")
    became_actionable = not created and conversation.noise and verdict.actionable
    if became_actionable:
        conversation.noise = False
        conversation.triage_reason = verdict.reason[:200]
        changes.append("triage")
    conversation.inbox = inbox  # already loaded: spares assignment a query

    conversation.last_seq += 1
    conversation.inbound_count += 1  # kept for unread counts (selectors.unread_totals)
    meta: dict[str, Any] = dict(inbound.meta)
    meta["triage"] = verdict.data()
    if inbound.attachments:
        meta["attachments"] = len(inbound.attachments)
    if inbound.opt_out:
        meta["keyword"] = inbound.opt_out
    message = Message(
        conversation=conversation,
        seq=conversation.last_seq,
        inbox=inbox,
        direction=Message.Direction.INBOUND,
        kind=Message.Kind.MESSAGE,
        channel=inbound.channel,
        identity=identity,
        body=inbound.text,
        provider_id=inbound.provider_message_id,
        status=Message.Status.RECEIVED,
        meta=meta,
        created_at=now,
    )
    if not rawsql.supported():
        message.save(force_insert=True)
    elif created:  # a new conversation and its first message in one statement
        rawsql.insert_pair(conversation, message, "conversation")
    else:
        rawsql.insert(message)
    to_fetch: list[int] = []
    if inbound.attachments:
        # Bytes that came with the message are stored now; provider URLs are fetched after commit.
        for item in inbound.attachments:
            if item.data is not None or item.error or not item.url:
                attachment_store(message=message, item=item)
        remote = [a for a in inbound.attachments if a.data is None and a.url and not a.error]
        if remote:
            Attachment.objects.bulk_create(
                [Attachment(message=message, source_url=a.url, content_type=a.content_type) for a in remote]
            )
            to_fetch = list(message.attachments.filter(file="").exclude(source_url="").values_list("id", flat=True))
    extra: list[Message] = []
    if inbound.opt_out in ("stop", "start") and identity_set_opt_out(
        identity=identity, opted_out=inbound.opt_out == "stop"
    ):
        text = (
            f"The customer opted out ({inbound.text.strip().upper()}): nothing more can be sent to {identity.address} until they text START."
            if inbound.opt_out == "stop"
            else f"The customer opted back in ({inbound.text.strip().upper()}): {identity.address} can receive messages again."
        )
        extra.append(activity_add(conversation, text, now=now, meta={"opt_out": inbound.opt_out}))
    if reopened:
        extra.append(activity_add(conversation, "The customer wrote again: reopened", now=now, meta={"reopened": True}))

    conversation.last_activity_at = now
    if identity.contact_id == conversation.contact_id:  # not a colleague writing in through a reply token
        conversation.last_identity = identity
        conversation.last_channel = identity.kind
    conversation.last_message = message_preview(message)
    if conversation.waiting_since is None and not automatic and not conversation.noise:
        conversation.waiting_since = now
    # Routing: team, priority and skills of a new or reopened conversation, or of one triage
    # just found actionable, before assignment. Noise is routed nowhere (docs/routing.md).
    routed = Routed()
    if (created or reopened or became_actionable) and not automatic and not conversation.noise:
        routed = conversation_route_on_receive(
            conversation=conversation, message=message, identity=identity, created=created, now=now
        )
        changes += routed.changes
        extra += routed.activities
    if batch is not None:
        if not claimed:  # the claimed conversation stays resolved: not the contact's open one
            batch.open[open_key] = conversation
        batch.dirty[conversation.pk] = conversation  # written once, at the end of the batch

    auto_assigned = (
        conversation.assignee_id is None
        and not conversation.noise
        and (batch is None or queue_key(conversation, routed) not in batch.unstaffed)
        and conversation_auto_assign(
            conversation=conversation,
            emit=False,
            pool=batch.assign if batch else _together.pool,
            skills=routed.skills,
            write=False,  # the assignee goes into the conversation's one UPDATE (below, or the batch's)
        )
    )
    if batch is None:
        conversation.save(update_fields=[*CONVERSATION_FIELDS, "assignee"] if auto_assigned else CONVERSATION_FIELDS)
    if (
        batch is not None
        and conversation.assignee_id is None
        and conversation.status == Conversation.Status.OPEN
        and not conversation.noise
    ):
        batch.unstaffed.add(queue_key(conversation, routed))  # nobody had room: the rest of the batch need not ask
    if auto_assigned:
        changes.append("assignee")
    queue_reply = (
        None
        if conversation.noise
        else queue_reply_maybe(conversation=conversation, identity=identity, created=created, now=now)
    )
    if queue_reply is not None:
        extra.append(queue_reply)
        if batch is None:
            conversation.save(update_fields=["last_seq"])
    # Events last: they take the event-order lock, held until commit.
    if created:
        emit_conversation(conversation, EventType.CONVERSATION_CREATED)
    elif changes:
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=changes)
    emit_message(message)
    for activity in extra:
        emit_message(activity)
    if auto_assigned:  # after the message, so that the notification can point at it
        notify_assigned(conversation=conversation)
    if to_fetch:
        transaction.on_commit(lambda: attachments_fetch_later(to_fetch))
    return message, True
