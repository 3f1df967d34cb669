"""Status broadcasts: tell the affected customers once, each on the channel they use.

A supervisor picks an audience (a label, open conversations matching a search, a list of
contacts), writes the notice, previews who gets it on which channel (and who is skipped and
why), and sends. Sending:
- `broadcast_send` writes one `BroadcastRecipient` per contact (unique per broadcast and
  contact) with its channel and its turn (`due_at`: each sender address paced at its channel's
  declared rate, registry `rate=`), all in one transaction.
- The bus job (`broadcasts_dispatch`, run_bus's job loop) takes due recipients (SKIP LOCKED)
  and, in one transaction each, queues the notice as an outbound message in the customer's
  conversation (`message_send`, client id `broadcast-<id>`: idempotent per conversation) and
  marks the recipient sent. The outbox sends it exactly once; a crash at any point redoes only
  what did not commit. Opt-outs and WhatsApp's 24-hour window are checked again at that moment.
- Progress goes to the sender's consoles as `broadcast.progress` events; the report reads the
  recipients and their messages' delivery status.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.accounts.models import Agent
from apps.broadcasts.events import BROADCAST_FINISHED, BROADCAST_PROGRESS
from apps.broadcasts.models import Broadcast, BroadcastRecipient
from apps.broadcasts.permissions import may_broadcast
from apps.bus import doorbell, registry
from apps.bus.events import event_append
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Conversation, Label, Message
from apps.conversations.services import message_send
from apps.core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from apps.whatsapp.models import WhatsAppTemplate
from apps.whatsapp.services import whatsapp_window

log = logging.getLogger(__name__)

MAX_CONTACTS = 50_000
PREVIEW_SAMPLE = 20
OPEN_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED)

SKIP_WORDS = {
    "opted_out": "opted out of messages on this channel (texted STOP)",
    "no_channel": "no address a message can be sent to",
    "whatsapp_window_closed": "WhatsApp's 24-hour window is closed and no template was chosen",
    "merged": "the contact was merged into another",
    "not_sendable": "the channel refused the message",
}


def _require(agent: Any) -> None:
    if not may_broadcast(agent):
        raise PermissionDenied("only an admin can send status broadcasts")


# --- composing -----------------------------------------------------------------------------


def _clean_audience(audience: Any) -> dict[str, Any]:
    if not isinstance(audience, dict):
        raise InvalidInput("audience must be an object with a kind", code="invalid_audience")
    kind = audience.get("kind")
    if kind == "label":
        try:
            label_id = int(audience.get("label") or 0)
        except (TypeError, ValueError):
            raise InvalidInput("pick a label", code="invalid_audience") from None
        if not Label.objects.filter(pk=label_id).exists():
            raise InvalidInput("no such label", code="invalid_audience")
        return {"kind": "label", "label": label_id}
    if kind == "search":
        q = str(audience.get("q") or "").strip()
        if len(q) < 2:
            raise InvalidInput("type at least 2 characters to search for", code="invalid_audience")
        inbox = audience.get("inbox")
        return {"kind": "search", "q": q[:200], "inbox": int(inbox) if inbox not in (None, "") else None}
    if kind == "contacts":
        raw = audience.get("contacts")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("list at least one contact", code="invalid_audience")
        try:
            ids = sorted({int(c) for c in raw})
        except (TypeError, ValueError):
            raise InvalidInput("contacts must be contact ids", code="invalid_audience") from None
        if len(ids) > MAX_CONTACTS:
            raise InvalidInput(f"at most {MAX_CONTACTS} contacts", code="invalid_audience")
        return {"kind": "contacts", "contacts": ids}
    raise InvalidInput("audience kind must be label, search or contacts", code="invalid_audience")


def _clean_template(template: Any) -> dict[str, Any] | None:
    if not template:
        return None
    if not isinstance(template, dict) or not template.get("sid"):
        raise InvalidInput("a WhatsApp template needs its sid", code="invalid_template")
    row = WhatsAppTemplate.objects.filter(sid=template["sid"]).first()
    if row is None or not row.approved:
        raise InvalidInput("that WhatsApp template is not approved", code="invalid_template")
    variables = template.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidInput("template variables must be an object", code="invalid_template")
    return {"sid": row.sid, "variables": {str(k): str(v) for k, v in variables.items()}}


def broadcast_create(
    *,
    by: Agent,
    title: str,
    body: str,
    audience: Any,
    status_url: str = "",
    whatsapp_template: Any = None,
) -> Broadcast:
    _require(by)
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise InvalidInput("give the broadcast a title", code="invalid_title")
    if not body:
        raise InvalidInput("write the notice", code="empty_message")
    if len(body) > 1600:
        raise InvalidInput("keep the notice under 1600 characters (an SMS of 10 parts)", code="too_long")
    status_url = (status_url or "").strip()
    if status_url and not status_url.startswith(("https://", "http://")):
        raise InvalidInput("the status page must be an http(s) URL", code="invalid_status_url")
    return Broadcast.objects.create(
        title=title[:200],
        body=body,
        status_url=status_url[:500],
        audience=_clean_audience(audience),
        whatsapp_template=_clean_template(whatsapp_template),
        created_by=by,
    )


def broadcast_text(broadcast: Broadcast) -> str:
    """The notice as customers read it: the text, then the status page's link."""
    if broadcast.status_url and broadcast.status_url not in broadcast.body:
        return f"{broadcast.body}\n\n{broadcast.status_url}"
    return broadcast.body


# --- the audience --------------------------------------------------------------------------


@dataclass
class Candidate:
    contact_id: int
    conversation: Conversation | None
    identity: Identity | None
    channel: str
    use_template: bool
    reason: str  # "" = will be sent


def _audience_conversations(audience: dict[str, Any]) -> dict[int, Conversation | None]:
    """contact id -> the conversation the notice goes into (their most recent in the audience)."""
    rows = Conversation.objects.select_related("last_identity", "contact").order_by(
        "contact_id", "-last_activity_at", "-id"
    )
    kind = audience["kind"]
    if kind == "label":
        rows = rows.filter(labels=audience["label"])
    elif kind == "search":
        q = audience["q"]
        rows = rows.filter(status__in=OPEN_STATUSES).filter(
            Q(contact__name__icontains=q)
            | Exists(Identity.objects.filter(contact_id=OuterRef("contact_id"), address__icontains=q))
            | Exists(
                Message.objects.filter(conversation_id=OuterRef("pk"), kind=Message.Kind.MESSAGE, body__icontains=q)
            )
        )
        if audience.get("inbox"):
            rows = rows.filter(inbox_id=audience["inbox"])
    else:
        rows = rows.filter(contact_id__in=audience["contacts"])
    chosen: dict[int, Conversation | None] = {}
    for conversation in rows[: MAX_CONTACTS * 4]:
        chosen.setdefault(conversation.contact_id, conversation)
    if kind == "contacts":
        for contact_id in Contact.objects.filter(pk__in=audience["contacts"]).values_list("id", flat=True):
            chosen.setdefault(contact_id, None)
    return chosen


def _candidates(broadcast: Broadcast) -> list[Candidate]:
    chosen = _audience_conversations(broadcast.audience)
    merged = set(Contact.objects.filter(pk__in=list(chosen), merged_into__isnull=False).values_list("id", flat=True))
    sendable = registry.sendable_kinds()
    fallback: dict[int, Identity] = {}
    for row in Identity.objects.filter(contact_id__in=list(chosen), kind__in=sendable).order_by("created_at"):
        fallback[row.contact_id] = row  # the newest sendable one, as message_send picks
    result: list[Candidate] = []
    now = timezone.now()
    for contact_id, conversation in chosen.items():
        identity: Identity | None = None
        if conversation is not None:
            identity = conversation.last_identity
            if identity is None or identity.contact_id != contact_id or identity.kind not in sendable:
                identity = fallback.get(contact_id)
        channel = identity.kind if identity is not None else ""
        use_template = False
        reason = ""
        if contact_id in merged:
            reason = "merged"
        elif conversation is None or identity is None:
            reason = "no_channel"
        elif identity.opted_out:
            reason = "opted_out"
        elif identity.kind == Identity.Kind.WHATSAPP:
            window = whatsapp_window(identity_id=identity.pk, inbox_id=conversation.inbox_id, now=now)
            if window.state != "open":
                if broadcast.whatsapp_template:
                    use_template = True
                else:
                    reason = "whatsapp_window_closed"
        result.append(
            Candidate(
                contact_id=contact_id,
                conversation=conversation,
                identity=identity,
                channel=channel,
                use_template=use_template,
                reason=reason,
            )
        )
    return result


def _channel_key(channel: str, use_template: bool) -> str:
    return f"{channel}_template" if use_template else channel


def broadcast_preview(*, by: Agent, broadcast_id: int) -> dict[str, Any]:
    """Who would get it, on which channel, and who would be skipped and why — nothing written."""
    _require(by)
    broadcast = _get(broadcast_id)
    candidates = _candidates(broadcast)
    channels: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for c in candidates:
        if c.reason:
            skipped[c.reason] += 1
        else:
            channels[_channel_key(c.channel, c.use_template)] += 1
    names = dict(
        Contact.objects.filter(pk__in=[c.contact_id for c in candidates[:PREVIEW_SAMPLE]]).values_list("id", "name")
    )
    sample = [
        {
            "contact": c.contact_id,
            "name": names.get(c.contact_id, ""),
            "address": c.identity.address if c.identity else "",
            "channel": _channel_key(c.channel, c.use_template) if c.channel else "",
            "skipped": c.reason,
        }
        for c in candidates[:PREVIEW_SAMPLE]
    ]
    return {
        "broadcast": broadcast.pk,
        "audience": len(candidates),
        "sample": sample,
        "will_send": sum(channels.values()),
        "channels": dict(sorted(channels.items())),
        "skipped": {
            reason: {"count": n, "why": SKIP_WORDS.get(reason, reason)} for reason, n in sorted(skipped.items())
        },
        "text": broadcast_text(broadcast),
    }


def _get(broadcast_id: int, *, lock: bool = False) -> Broadcast:
    rows = Broadcast.objects.select_for_update() if lock else Broadcast.objects
    broadcast = rows.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFound("no such broadcast")
    return broadcast


# --- sending -------------------------------------------------------------------------------


def _rate(kind: str) -> float:
    return registry.send_rate(kind) or settings.BROADCAST_DEFAULT_RATE


def broadcast_send(*, by: Agent, broadcast_id: int) -> Broadcast:
    """Start sending: one recipient row per contact, each with its turn; the bus job sends."""
    _require(by)
    with transaction.atomic():
        broadcast = _get(broadcast_id, lock=True)
        if broadcast.state != Broadcast.State.DRAFT:
            raise Conflict(f"this broadcast is {broadcast.get_state_display().lower()} already", code="already_sent")
        candidates = _candidates(broadcast)
        if not candidates:
            raise InvalidInput("the audience is empty", code="empty_audience")
        now = timezone.now()
        turns: dict[tuple[str, int], int] = defaultdict(int)
        rows: list[BroadcastRecipient] = []
        for c in candidates:
            row = BroadcastRecipient(
                broadcast=broadcast,
                contact_id=c.contact_id,
                conversation=c.conversation,
                identity=c.identity,
                channel=c.channel,
                use_template=c.use_template,
                sender_id=c.conversation.inbox_id if c.conversation else None,
            )
            if c.reason:
                row.state = BroadcastRecipient.State.SKIPPED
                row.reason = c.reason
                row.detail = SKIP_WORDS.get(c.reason, "")
                row.processed_at = now
            else:
                key = (c.channel, row.sender_id or 0)
                row.due_at = now + dt.timedelta(seconds=turns[key] / _rate(c.channel))
                turns[key] += 1
            rows.append(row)
        BroadcastRecipient.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        broadcast.state = Broadcast.State.SENDING
        broadcast.started_at = now
        broadcast.save(update_fields=["state", "started_at"])
        _emit_progress(broadcast)
        doorbell.ring(doorbell.JOBS)
    return broadcast


def broadcast_cancel(*, by: Agent, broadcast_id: int) -> Broadcast:
    """Stop a broadcast: recipients not yet handed to the outbox are skipped (cancelled)."""
    _require(by)
    with transaction.atomic():
        broadcast = _get(broadcast_id, lock=True)
        if broadcast.state not in (Broadcast.State.DRAFT, Broadcast.State.SENDING):
            raise Conflict("this broadcast has finished", code="already_finished")
        now = timezone.now()
        BroadcastRecipient.objects.filter(broadcast=broadcast, state=BroadcastRecipient.State.PENDING).update(
            state=BroadcastRecipient.State.SKIPPED,
            reason="cancelled",
            detail="the broadcast was cancelled",
            processed_at=now,
        )
        broadcast.state = Broadcast.State.CANCELLED
        broadcast.finished_at = now
        broadcast.save(update_fields=["state", "finished_at"])
        _emit_progress(broadcast)
    return broadcast


def _send_one(recipient: BroadcastRecipient, broadcast: Broadcast, now: dt.datetime) -> None:
    """Queue the notice for one recipient, in the caller's transaction (its row is locked)."""
    identity = Identity.objects.filter(pk=recipient.identity_id).first() if recipient.identity_id else None
    if recipient.conversation_id is None or identity is None:
        _settle(recipient, BroadcastRecipient.State.SKIPPED, "no_channel", SKIP_WORDS["no_channel"], now)
        return
    if identity.opted_out:  # they may have texted STOP since the broadcast started
        _settle(recipient, BroadcastRecipient.State.SKIPPED, "opted_out", SKIP_WORDS["opted_out"], now)
        return
    template = None
    if identity.kind == Identity.Kind.WHATSAPP:
        window = whatsapp_window(identity_id=identity.pk, inbox_id=recipient.sender_id or 0, now=now)
        if window.state != "open":
            if not broadcast.whatsapp_template:
                _settle(
                    recipient,
                    BroadcastRecipient.State.SKIPPED,
                    "whatsapp_window_closed",
                    SKIP_WORDS["whatsapp_window_closed"],
                    now,
                )
                return
            template = broadcast.whatsapp_template
    try:
        with transaction.atomic():
            message, _created = message_send(
                conversation_id=recipient.conversation_id,
                agent=broadcast.created_by,
                body=broadcast_text(broadcast),
                client_id=f"broadcast-{broadcast.pk}",
                identity_id=identity.pk,
                template=template,
                take=False,
            )
    except DomainError as exc:
        reason = "opted_out" if exc.code == "recipient_opted_out" else exc.code
        state = BroadcastRecipient.State.SKIPPED if reason == "opted_out" else BroadcastRecipient.State.FAILED
        _settle(recipient, state, reason[:40], exc.message, now)
        return
    recipient.message = message
    recipient.use_template = template is not None
    _settle(recipient, BroadcastRecipient.State.SENT, "", "", now)


def _settle(recipient: BroadcastRecipient, state: str, reason: str, detail: str, now: dt.datetime) -> None:
    recipient.state = state
    recipient.reason = reason
    recipient.detail = detail[:500]
    recipient.processed_at = now
    recipient.save(update_fields=["state", "reason", "detail", "processed_at", "message", "use_template"])


def broadcasts_dispatch(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Hand due recipients to the outbox. Returns how many were processed."""
    now = now or timezone.now()
    limit = limit or settings.BROADCAST_BATCH_SIZE
    processed = 0
    touched: set[int] = set()
    with transaction.atomic():
        recipients = list(
            BroadcastRecipient.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                state=BroadcastRecipient.State.PENDING,
                due_at__lte=now,
                broadcast__state=Broadcast.State.SENDING,
            )
            .select_related("broadcast", "broadcast__created_by")
            .order_by("due_at", "id")[:limit]
        )
        for recipient in recipients:
            _send_one(recipient, recipient.broadcast, now)
            touched.add(recipient.broadcast_id)
            processed += 1
        for broadcast_id in touched:
            broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
            if not BroadcastRecipient.objects.filter(
                broadcast_id=broadcast_id, state=BroadcastRecipient.State.PENDING
            ).exists():
                broadcast.state = Broadcast.State.FINISHED
                broadcast.finished_at = timezone.now()
                broadcast.save(update_fields=["state", "finished_at"])
            _emit_progress(broadcast)
    return processed


def broadcasts_job() -> bool:
    """The bus job: True when more recipients are due now."""
    processed = broadcasts_dispatch()
    return processed >= settings.BROADCAST_BATCH_SIZE


# --- progress and the report ---------------------------------------------------------------

DELIVERED = {Message.Status.DELIVERED, Message.Status.READ}
SENT = {Message.Status.SENT} | DELIVERED
FAILED = {Message.Status.FAILED, Message.Status.UNDELIVERED}


def broadcast_report(*, broadcast_id: int) -> dict[str, Any]:
    """Counts: recipients, pending, sent (the provider took it), delivered, failed, skipped —
    with the reasons, and per channel."""
    broadcast = _get(broadcast_id)
    rows = BroadcastRecipient.objects.filter(broadcast_id=broadcast_id).values_list(
        "state", "reason", "channel", "use_template", "message__status", "message__error_code"
    )
    totals: Counter[str] = Counter()
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for state, reason, channel, use_template, status, error_code in rows:
        key = _channel_key(channel, use_template) if channel else "none"
        outcome = _outcome(state, status)
        totals["recipients"] += 1
        totals[outcome] += 1
        if outcome == "delivered":  # delivered ones were sent too
            totals["sent"] += 1
        per_channel[key][outcome] += 1
        if outcome == "delivered":
            per_channel[key]["sent"] += 1
        if outcome == "skipped":
            skipped[reason or "unknown"] += 1
        elif outcome == "failed":
            failed[error_code or reason or "unknown"] += 1
    return {
        "id": broadcast.pk,
        "title": broadcast.title,
        "state": broadcast.state,
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
        "counts": {
            name: totals.get(name, 0)
            for name in ("recipients", "pending", "queued", "sent", "delivered", "failed", "skipped")
        },
        "channels": {key: dict(counts) for key, counts in sorted(per_channel.items())},
        "skipped": {r: {"count": n, "why": SKIP_WORDS.get(r, r)} for r, n in sorted(skipped.items())},
        "failed": dict(sorted(failed.items())),
    }


def _outcome(state: str, status: str | None) -> str:
    """pending (its turn has not come), queued (in the outbox), sent (the provider has it; not
    known to be delivered), delivered, failed, skipped."""
    if state == BroadcastRecipient.State.PENDING:
        return "pending"
    if state == BroadcastRecipient.State.SKIPPED:
        return "skipped"
    if state == BroadcastRecipient.State.FAILED:
        return "failed"
    if status in DELIVERED:
        return "delivered"
    if status in FAILED:
        return "failed"
    if status == Message.Status.SENT:
        return "sent"
    return "queued"


def _emit_progress(broadcast: Broadcast) -> None:
    report = broadcast_report(broadcast_id=broadcast.pk)
    data = {"id": broadcast.pk, "state": broadcast.state, "counts": report["counts"]}
    event_append(type=BROADCAST_PROGRESS, data=data, agent_id=broadcast.created_by_id)
    if broadcast.state == Broadcast.State.FINISHED:
        event_append(
            type=BROADCAST_FINISHED,
            data={**data, "title": broadcast.title, "channels": report["channels"]},
        )
