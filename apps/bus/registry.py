"""What the apps above the bus plug into it. They register in their `AppConfig.ready()`.

The bus is the floor: it keeps the inbound journal, the outbox (with its status receipts) and
the event log, and it imports nothing above it. Everything it needs from above — who threads a
channel's inbound messages, which gateway sends on an identity kind, who records a send on the
message, which periodic work to run — is handed to it here. (Who listens to the event log, the socket
hubs of the web processes, attach to the event stream at run time: apps.bus.stream.)

Registrations are plain function references, made once at start-up; a second registration of
the same name replaces the first (tests use that to plug in a variant).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from django.db import transaction

from apps.gateways.base import Unroutable

if TYPE_CHECKING:
    from apps.bus.ingest import WebhookAnswer, WebhookRequest
    from apps.bus.models import InboundEntry
    from apps.gateways.base import DeliveryStatus, Gateway, InboundMessage, OutboundMessage

log = logging.getLogger(__name__)


# --- inbound -----------------------------------------------------------------------------


@dataclass
class Delivery:
    """One parsed inbound message of a journal entry, handed to its channel's receiver.

    The receiver stores it and sets `message`, or sets `unroutable` (a reason in words) when no
    inbox or conversation will take it; the entry is then flagged for an admin, never dropped.
    """

    entry: InboundEntry
    inbound: InboundMessage
    message: Any = None
    unroutable: str = ""


# A receiver stores a batch of deliveries (in journal order) inside the bus's transaction.
Receiver = Callable[[Sequence[Delivery]], None]


def receiver_each(store: Callable[..., Any]) -> Receiver:
    """A receiver from a function that stores one message: store(entry=, inbound=) -> Message.

    Each delivery is stored in its own savepoint; `Unroutable` from it marks that delivery
    unroutable and undoes what it wrote. For channels whose routing is per message (email).
    """

    def receive(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            try:
                with transaction.atomic():
                    delivery.message = store(entry=delivery.entry, inbound=delivery.inbound)
            except Unroutable as exc:
                delivery.unroutable = str(exc) or "unroutable"

    return receive


@dataclass(frozen=True)
class InboundChannel:
    name: str  # InboundEntry.channel
    parser: Callable[[], Gateway]  # parses what the intake journaled (payload, raw bytes)
    receiver: Receiver


_inbound: dict[str, InboundChannel] = {}


def register_inbound(name: str, *, parser: Callable[[], Gateway], receiver: Receiver) -> None:
    """A journal channel: the gateway that parses its entries and the receiver that stores them."""
    _inbound[name] = InboundChannel(name=name, parser=parser, receiver=receiver)


def inbound_channel(name: str) -> InboundChannel:
    try:
        return _inbound[name]
    except KeyError:
        raise LookupError(f"no app registered the inbound channel {name!r}") from None


# --- outbound ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileLimits:
    """What files a channel's replies can carry, declared at registration (`register_sender`).

    `types` maps each MIME type the channel takes to the largest file of that type in bytes;
    `max_total_bytes` bounds the files of one reply together, `max_files` their number. A reply
    whose files do not fit is refused before anything is queued (`refusal`)."""

    types: Mapping[str, int]
    max_total_bytes: int
    max_files: int = 10
    name: str = ""  # how agents know the channel ("WhatsApp")

    def refusal(self, files: Sequence[tuple[str, str, int]]) -> str:
        """Why these files (name, content type, size) cannot go out on the channel, in words;
        "" when they fit."""
        channel = self.name or "this channel"
        if len(files) > self.max_files:
            return f"{channel} takes at most {self.max_files} file(s) per reply; {len(files)} were attached."
        for name, content_type, size in files:
            limit = self.types.get(content_type.split(";")[0].strip().lower())
            if limit is None:
                return f"{name}: {channel} cannot carry files of type {content_type or 'unknown'}."
            if size > limit:
                return (
                    f"{name} is {_size_words(size)}; {channel} takes {content_type} files up to {_size_words(limit)}."
                )
        total = sum(size for _, _, size in files)
        if total > self.max_total_bytes:
            return f"The files are {_size_words(total)} together; {channel} takes up to {_size_words(self.max_total_bytes)} per reply."
        return ""


def _size_words(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


@dataclass(frozen=True)
class ReplyPlan:
    """What a channel's reply check makes of a reply before it is queued: the text that goes
    into the timeline and what the message keeps in its `meta` for the send (a template)."""

    body: str
    meta: dict[str, Any] = field(default_factory=dict)


# A channel's rule for a reply, run before anything is queued: check(identity=, inbox_id=,
# body=, template=, files=, options=, conversation_id=) -> ReplyPlan (`options`: the channel's own choices, such
# as Mastodon's public or private reply). It raises apps.core.errors.DomainError to refuse the reply
# (WhatsApp's 24-hour window) and turns a template choice into its text.
ReplyCheck = Callable[..., ReplyPlan]


@dataclass(frozen=True)
class SendChannel:
    kind: str  # an Identity kind
    gateway: Callable[[], Gateway]
    # Completes the OutboundMessage of a queued message before it is sent (email: headers,
    # files). Called as build(message=Message, outbound=OutboundMessage); may raise
    # PermanentSendError.
    build: Callable[..., OutboundMessage] | None = None
    carries_files: bool = False
    # The source its status callbacks are journalled under (StatusReceipt.source).
    source: Callable[[], str] | None = None
    # Sent only by the process that holds the channel's connections (XMPP: `run_xmpp`), which
    # claims the kind's outbox entries itself (`outbox_claim(kinds=…)`); the bus worker and the
    # eager path leave them alone and only ring the outbox doorbell for it.
    claimed_by_own_process: bool = False
    # The files it takes (None with carries_files: any, within AGENT_ATTACHMENTS_MAX_BYTES).
    limits: FileLimits | None = None
    check: ReplyCheck | None = None
    # Messages per second one sender address (a Twilio number) takes; None: no declared limit.
    # Bulk sends (apps.broadcasts) pace themselves by it.
    rate: float | None = None


_senders: dict[str, SendChannel] = {}


def register_sender(
    kind: str,
    *,
    gateway: Callable[[], Gateway],
    build: Callable[..., OutboundMessage] | None = None,
    carries_files: bool = False,
    source: Callable[[], str] | None = None,
    claimed_by_own_process: bool = False,
    limits: FileLimits | None = None,
    check: ReplyCheck | None = None,
    rate: float | None = None,
) -> None:
    """An identity kind a reply can go out on, and the gateway that sends it.

    `limits` are the files it can carry (sizes and types, checked before a reply is queued);
    `check` is its rule for a reply (see ReplyCheck). A later `register_reply_check` can add
    the rule from another app."""
    _senders[kind] = SendChannel(
        kind=kind,
        gateway=gateway,
        build=build,
        carries_files=carries_files,
        source=source,
        claimed_by_own_process=claimed_by_own_process,
        limits=limits,
        check=check or _checks.get(kind),
        rate=rate,
    )


_checks: dict[str, ReplyCheck] = {}


def register_reply_check(kind: str, check: ReplyCheck) -> None:
    """A rule for replies on `kind` from an app other than the one that sends it (WhatsApp's
    window, kept by apps.whatsapp, for the Twilio gateway's sender)."""
    _checks[kind] = check
    channel = _senders.get(kind)
    if channel is not None:
        _senders[kind] = replace(channel, check=check)


def reply_check(kind: str) -> ReplyCheck | None:
    channel = _senders.get(kind)
    return channel.check if channel is not None else _checks.get(kind)


def file_limits(kind: str) -> FileLimits | None:
    channel = _senders.get(kind)
    return channel.limits if channel is not None else None


def send_rate(kind: str) -> float | None:
    """Messages per second one sender address of `kind` takes (None: not declared)."""
    channel = _senders.get(kind)
    return channel.rate if channel is not None else None


def sender_for(kind: str) -> SendChannel:
    try:
        return _senders[kind]
    except KeyError:
        raise LookupError(f"no gateway sends on {kind!r}") from None


def sendable_kinds() -> frozenset[str]:
    """Identity kinds a reply can go out on."""
    return frozenset(_senders)


def attachment_kinds() -> frozenset[str]:
    """Identity kinds whose replies can carry files an agent attached."""
    return frozenset(kind for kind, channel in _senders.items() if channel.carries_files)


def own_process_kinds() -> frozenset[str]:
    """Identity kinds whose outbox entries only their connection-holding process sends."""
    return frozenset(kind for kind, channel in _senders.items() if channel.claimed_by_own_process)


def receipt_source(kind: str) -> str:
    channel = _senders.get(kind)
    return channel.source() if channel is not None and channel.source is not None else kind


# Identity kind -> fetch(url) -> (bytes, content type) for media a provider hands over as a URL
# (Twilio MMS). Raises TransientSendError (fetch again later) or PermanentSendError.
MediaFetcher = Callable[[str], tuple[bytes, str]]

_media_fetchers: dict[str, MediaFetcher] = {}


def register_media_fetcher(kind: str, fetch: MediaFetcher) -> None:
    _media_fetchers[kind] = fetch


def media_fetcher(kind: str) -> MediaFetcher:
    try:
        return _media_fetchers[kind]
    except KeyError:
        raise LookupError(f"no app fetches media of {kind!r}") from None


class DeliveryRecorder(Protocol):
    """Records on the message what happened to its send (the conversations app).

    Called by the bus inside its own transaction, which also settles the outbox entry and
    marks the receipts applied: the recorder writes the message, never the bus's tables.
    """

    def sent(self, *, message_id: int, provider_id: str, status: str, receipts: Sequence[DeliveryStatus]) -> None: ...

    def failed(self, *, message_id: int, code: str, text: str) -> None: ...

    def statuses(self, *, provider_message_id: str, receipts: Sequence[DeliveryStatus]) -> bool | None:
        """Apply receipts to the message with this provider id: True when its visible status
        changed, None when no message has that id yet (the receipts wait)."""

    def statuses_many(self, receipts: Mapping[str, Sequence[DeliveryStatus]]) -> dict[str, bool | None]:
        """`statuses` for many provider ids in one go (the receipt drain's batches)."""


_recorder: list[DeliveryRecorder] = []


def register_delivery_recorder(recorder: DeliveryRecorder) -> None:
    _recorder[:] = [recorder]


def delivery_recorder() -> DeliveryRecorder:
    if not _recorder:
        raise LookupError("no app registered a delivery recorder")
    return _recorder[0]


# --- periodic work -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[], Any]


_sweeps: dict[str, Sweep] = {}


def register_sweep(name: str, run: Callable[[], Any]) -> None:
    """Work the bus sweep runs each round (every BUS_SWEEP_SECONDS): re-dispatch what was lost,
    wake what is due. Each runs on its own; one failing never stops the others."""
    _sweeps[name] = Sweep(name=name, run=run)


def sweeps() -> Iterable[Sweep]:
    return list(_sweeps.values())


@dataclass(frozen=True)
class Job:
    name: str
    # One round of the app's queued work (webhook deliveries, a broadcast's recipients);
    # returns True when more is due now (the loop runs it again at once).
    run: Callable[[], bool]


_jobs: dict[str, Job] = {}


def register_job(name: str, run: Callable[[], bool]) -> None:
    """Queued work of an app above the bus, run by the bus worker's job loop (apps.bus.jobs),
    woken by the JOBS and EVENTS doorbells and on a timer. `run` claims its own rows (leases,
    SKIP LOCKED), so any number of workers can run it; one failing never stops the others."""
    _jobs[name] = Job(name=name, run=run)


def jobs() -> Iterable[Job]:
    return list(_jobs.values())


# --- lean webhooks (apps.bus.ingest) ------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    url_name: str  # the URL name of the Django view that serves the same webhook
    handle: Callable[[WebhookRequest], WebhookAnswer]


_webhooks: dict[str, Webhook] = {}


def register_webhook(url_name: str, handle: Callable[[WebhookRequest], WebhookAnswer]) -> None:
    """A webhook that verifies, journals and answers: `handle` is its one implementation (its
    Django view calls it too), served under ASGI by apps.bus.ingest.WebhookFront before Django's
    request handler and middleware, at the URL of `url_name`."""
    _webhooks[url_name] = Webhook(url_name=url_name, handle=handle)


def webhooks() -> Iterable[Webhook]:
    return list(_webhooks.values())


@dataclass
class _Registry:
    """For tests: a snapshot of every registration, restored afterwards."""

    inbound: dict[str, InboundChannel] = field(default_factory=dict)
    senders: dict[str, SendChannel] = field(default_factory=dict)
    recorder: list[DeliveryRecorder] = field(default_factory=list)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    media_fetchers: dict[str, MediaFetcher] = field(default_factory=dict)
    checks: dict[str, ReplyCheck] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)


def snapshot() -> _Registry:
    return _Registry(
        dict(_inbound),
        dict(_senders),
        list(_recorder),
        dict(_sweeps),
        dict(_media_fetchers),
        dict(_checks),
        dict(_jobs),
        dict(_webhooks),
    )


def restore(saved: _Registry) -> None:
    _inbound.clear()
    _inbound.update(saved.inbound)
    _senders.clear()
    _senders.update(saved.senders)
    _recorder[:] = saved.recorder
    _sweeps.clear()
    _sweeps.update(saved.sweeps)
    _media_fetchers.clear()
    _media_fetchers.update(saved.media_fetchers)
    _checks.clear()
    _checks.update(saved.checks)
    _jobs.clear()
    _jobs.update(saved.jobs)
    _webhooks.clear()
    _webhooks.update(saved.webhooks)
