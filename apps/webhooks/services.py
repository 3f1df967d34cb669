"""Outgoing webhooks: subscriptions, the fan-out from the event log, sending, retries, replay.

- The fan-out (`webhooks_fan_out`) reads the event log after its cursor, in id order, and
  writes one `WebhookDelivery` per (subscription, event) — a unique constraint, so a crash
  between the insert and the cursor's move doubles nothing.
- The sender (`webhooks_dispatch`) is a bus job (run_bus's job loop, never the request path):
  it leases subscriptions that have due deliveries (SKIP LOCKED: one sender per subscription,
  so each subscription's deliveries go out in event order) and posts their due deliveries,
  oldest first. 2xx: succeeded. 5xx, 408, 429, timeouts and refused connections: retried on
  WEBHOOKS_RETRY_SECONDS for up to WEBHOOKS_RETRY_HOURS after the first try. Any other 4xx, a
  refused destination (SSRF guard) or an unfollowed redirect: failed at once.
- Every try is logged (`WebhookAttempt`: status, latency, error). An admin can replay a
  delivery from the console: it is sent again with the same id and body, signed afresh.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone

from apps.accounts.models import Agent
from apps.bus import doorbell
from apps.bus.models import Event
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.webhooks import catalogue, signing, transport
from apps.webhooks.models import WebhookAttempt, WebhookCursor, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
USER_AGENT = "supportdesk-webhooks/1"
OWNER = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def may_manage_webhooks(agent: Any) -> bool:
    """Webhooks are an admin's (they see every event of the desk)."""
    return bool(agent is not None and (getattr(agent, "role", None) == Agent.Role.ADMIN or agent.is_superuser))


def _require_admin(agent: Any) -> None:
    if not may_manage_webhooks(agent):
        raise PermissionDenied("only an admin can manage webhooks")


# --- subscriptions -------------------------------------------------------------------------


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the URL must start with http:// or https:// and name a host", code="invalid_url")
    if parts.username or parts.password:
        raise InvalidInput("put no credentials in the URL; verify the signature instead", code="invalid_url")
    if len(url) > 1000:
        raise InvalidInput("the URL is over 1000 characters", code="invalid_url")
    return url


def _clean_types(event_types: Sequence[str] | None) -> list[str]:
    types = list(dict.fromkeys(event_types or []))
    unknown = [name for name in types if name not in catalogue.EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(unknown)}", code="invalid_event_types")
    return types


def _newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def webhook_subscription_create(
    *,
    by: Agent,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str = "",
    allow_private: bool = False,
) -> WebhookSubscription:
    _require_admin(by)
    return WebhookSubscription.objects.create(
        url=_clean_url(url),
        event_types=_clean_types(event_types),
        description=(description or "")[:200],
        allow_private=bool(allow_private),
        secret=signing.secret_new(),
        since_event_id=_newest_event_id(),
        created_by=by,
    )


def webhook_subscription_update(*, by: Agent, subscription_id: int, **changes: Any) -> WebhookSubscription:
    _require_admin(by)
    subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFound("no such webhook")
    if "url" in changes:
        subscription.url = _clean_url(changes["url"])
    if "event_types" in changes:
        subscription.event_types = _clean_types(changes["event_types"])
    if "description" in changes:
        subscription.description = str(changes["description"] or "")[:200]
    if "allow_private" in changes:
        subscription.allow_private = bool(changes["allow_private"])
    if "active" in changes:
        active = bool(changes["active"])
        if active and not subscription.active:  # resumed: from now on, not the events it missed
            subscription.since_event_id = _newest_event_id()
        subscription.active = active
    if changes.get("rotate_secret"):
        subscription.secret = signing.secret_new()
    subscription.save()
    return subscription


def webhook_subscription_delete(*, by: Agent, subscription_id: int) -> None:
    _require_admin(by)
    deleted, _ = WebhookSubscription.objects.filter(pk=subscription_id).delete()
    if not deleted:
        raise NotFound("no such webhook")


def webhook_subscription_ping(*, by: Agent, subscription_id: int) -> WebhookDelivery:
    """Queue a `ping` delivery (the console's "Send test event"): signed and logged like any
    other, so an admin can check the receiver and its signature check end to end."""
    _require_admin(by)
    subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFound("no such webhook")
    now = timezone.now()
    key = -time.time_ns() // 1000  # pings have negative keys: never an event's
    webhook_id = f"ping_{uuid.uuid4().hex}"
    body: dict[str, Any] = {
        "id": webhook_id,
        "type": catalogue.PING,
        "created_at": now.isoformat(),
        "event_id": None,
        "data": {"webhook": {"id": subscription.pk, "url": subscription.url}},
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event_id=key,
            event_type=catalogue.PING,
            webhook_id=webhook_id,
            body=json.dumps(body, separators=(",", ":")),
            next_attempt_at=now,
            give_up_at=now + dt.timedelta(hours=settings.WEBHOOKS_RETRY_HOURS),
        )
        doorbell.ring(doorbell.JOBS)
    return delivery


# --- fan-out -------------------------------------------------------------------------------


def _cursor() -> WebhookCursor | None:
    """The cursor row, locked for this transaction; None while another worker fans out (it
    reads the same events: this one has nothing to add)."""
    cursor = WebhookCursor.objects.select_for_update(skip_locked=True).filter(pk=1).first()
    if cursor is None:
        if WebhookCursor.objects.filter(pk=1).exists():
            return None
        WebhookCursor.objects.get_or_create(pk=1, defaults={"last_event_id": 0})
        cursor = WebhookCursor.objects.select_for_update(skip_locked=True).filter(pk=1).first()
    return cursor


def webhooks_fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Turn new log events into deliveries. Returns how many events were read.

    With no active subscription it reads nothing (one query per round); the cursor catches up
    from the oldest active subscription's start when there is one again."""
    start = WebhookSubscription.objects.filter(active=True).aggregate(start=Min("since_event_id"))["start"]
    if start is None:
        return 0
    with transaction.atomic():
        cursor = _cursor()
        if cursor is None:
            return 0
        after = max(cursor.last_event_id, start)
        events = list(Event.objects.filter(id__gt=after).order_by("id")[:limit])
        if not events:
            return 0
        subscriptions = list(WebhookSubscription.objects.filter(active=True))
        now = timezone.now()
        give_up = now + dt.timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
        rows: list[WebhookDelivery] = []
        seen_contact: set[str] = set()
        for event in events:
            for name, data in catalogue.public_events(event):
                if name == catalogue.CONTACT_UPDATED:  # appended once per inbox: one is enough
                    key = json.dumps(data, sort_keys=True, default=str)
                    if key in seen_contact:
                        continue
                    seen_contact.add(key)
                for subscription in subscriptions:
                    if event.id <= subscription.since_event_id:
                        continue
                    if subscription.event_types and name not in subscription.event_types:
                        continue
                    # A log event can be two public events (updated + resolved): one id each.
                    webhook_id = f"evt_{event.id}_{name.replace('.', '_')}"
                    body = catalogue.envelope(webhook_id=webhook_id, name=name, event=event, data=data)
                    rows.append(
                        WebhookDelivery(
                            subscription=subscription,
                            event_id=_delivery_key(event.id, name),
                            event_type=name,
                            webhook_id=webhook_id,
                            body=json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str),
                            next_attempt_at=now,
                            give_up_at=give_up,
                        )
                    )
        if rows:
            WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
            doorbell.ring(doorbell.JOBS)
        cursor.last_event_id = events[-1].id
        cursor.save(update_fields=["last_event_id", "updated_at"])
    return len(events)


# The unique key of a delivery: the log event id, times 8, plus the public event's place in the
# catalogue's one-to-many mapping (conversation.updated and .resolved come from one log event).
_SUB_KEYS = {catalogue.CONVERSATION_RESOLVED: 1}


def _delivery_key(event_id: int, name: str) -> int:
    return event_id * 8 + _SUB_KEYS.get(name, 0)


# --- sending -------------------------------------------------------------------------------


def webhooks_log_prune() -> int:
    """Drop settled deliveries (and their attempts) older than WEBHOOKS_LOG_DAYS (the job does,
    hourly)."""
    cutoff = timezone.now() - dt.timedelta(days=settings.WEBHOOKS_LOG_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        state__in=[WebhookDelivery.State.SUCCEEDED, WebhookDelivery.State.FAILED], finished_at__lt=cutoff
    ).delete()
    return deleted


def _retry_delay(attempts: int) -> dt.timedelta:
    schedule = settings.WEBHOOKS_RETRY_SECONDS
    return dt.timedelta(seconds=schedule[min(attempts - 1, len(schedule) - 1)])


def _claim_subscriptions(now: dt.datetime, limit: int) -> list[int]:
    due = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("pk"), state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
    )
    with transaction.atomic():
        ids = list(
            WebhookSubscription.objects.select_for_update(skip_locked=True)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), Exists(due), active=True)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            WebhookSubscription.objects.filter(pk__in=ids).update(
                lease_until=now + dt.timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS), lease_owner=OWNER
            )
    return ids


def webhooks_dispatch(*, now: dt.datetime | None = None) -> int:
    """Send what is due, one sender per subscription. Returns how many deliveries were tried."""
    now = now or timezone.now()
    ids = _claim_subscriptions(now, settings.WEBHOOKS_SEND_THREADS)
    if not ids:
        return 0
    if len(ids) == 1 or settings.WEBHOOKS_SEND_THREADS <= 1:
        return sum(_send_subscription(i, now) for i in ids)
    with ThreadPoolExecutor(max_workers=len(ids), thread_name_prefix="webhooks") as pool:
        return sum(pool.map(lambda i: _threaded(_send_subscription, i, now), ids))


def _threaded(fn: Any, *args: Any) -> Any:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        connection.close()


def _send_subscription(subscription_id: int, now: dt.datetime) -> int:
    """Post this subscription's due deliveries in order; stop at the first that must wait."""
    tried = 0
    deadline = time.monotonic() + settings.WEBHOOKS_LEASE_SECONDS / 2
    try:
        subscription = WebhookSubscription.objects.get(pk=subscription_id)
        while time.monotonic() < deadline:
            delivery = (
                WebhookDelivery.objects.filter(
                    subscription_id=subscription_id, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
                )
                .order_by("id")
                .first()
            )
            if delivery is None:
                break
            tried += 1
            if _attempt(subscription, delivery, now) != "succeeded":
                break  # the receiver is struggling: later deliveries wait for the next round
    finally:
        WebhookSubscription.objects.filter(pk=subscription_id, lease_owner=OWNER).update(lease_until=None)
    return tried


def _classify(status: int) -> str:
    if 200 <= status < 300:
        return "succeeded"
    if status >= 500 or status in (408, 429):
        return "retry"
    return "failed"


def _attempt(subscription: WebhookSubscription, delivery: WebhookDelivery, now: dt.datetime) -> str:
    """One POST of a delivery, logged; settles or reschedules it. Returns the outcome.
    `now` is the dispatch's clock (the tests move it forward to walk the retry schedule)."""
    replay = delivery.replay_requested
    started = max(now, delivery.next_attempt_at) if now > timezone.now() else timezone.now()
    clock = time.monotonic()
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-event": delivery.event_type,
        "webhook-attempt": str(delivery.attempts + 1),
        **signing.headers(
            secret=subscription.secret, webhook_id=delivery.webhook_id, timestamp=int(time.time()), body=body
        ),
    }
    status: int | None = None
    latency: int | None = None
    excerpt = ""
    error = ""
    try:
        answer = transport.post(
            subscription.url,
            body,
            headers,
            allow_private_host=subscription.allow_private,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
        )
        status, latency, excerpt = answer.status, answer.latency_ms, answer.excerpt
        outcome = _classify(status)
        if 300 <= status < 400:
            error = f"redirect ({status}) not followed; point the webhook at the final URL"
    except transport.Refused as exc:
        outcome, error = "failed", f"refused: {exc}"
    except transport.Unreachable as exc:
        outcome, error = "retry", str(exc)
    elapsed = time.monotonic() - clock
    finished = started + dt.timedelta(seconds=elapsed)
    if latency is None:
        latency = int(elapsed * 1000)
    attempts = delivery.attempts + 1
    if outcome == "retry":
        next_at = finished + _retry_delay(attempts)
        if next_at > delivery.give_up_at:
            outcome = "failed"
            error = (error or f"HTTP {status}") + " — gave up after a day of retries"
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempts,
            replay=replay,
            started_at=started,
            status_code=status,
            latency_ms=latency,
            error=error[:500],
            response_excerpt=excerpt[:500],
            outcome=outcome,
        )
        changes: dict[str, Any] = {
            "attempts": attempts,
            "last_status": status,
            "last_error": error[:500],
            "last_latency_ms": latency,
            "replay_requested": False,
        }
        if outcome == "succeeded":
            changes.update(state=WebhookDelivery.State.SUCCEEDED, finished_at=finished)
        elif outcome == "failed":
            changes.update(state=WebhookDelivery.State.FAILED, finished_at=finished)
        else:
            changes.update(next_attempt_at=finished + _retry_delay(attempts))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    log.info(
        "webhook %s to %s: %s (HTTP %s, %s ms)%s",
        delivery.webhook_id,
        subscription.url,
        outcome,
        status,
        latency,
        f" — {error}" if error else "",
    )
    return outcome


def webhook_delivery_replay(*, by: Agent, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again (same id and body, a fresh signature): an admin's request from the
    console. It goes back on the queue, due now, with a fresh day of retries; the bus job sends
    it (never the request), and its attempts are logged as replays."""
    _require_admin(by)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound("no such delivery")
        now = timezone.now()
        delivery.state = WebhookDelivery.State.PENDING
        delivery.next_attempt_at = now
        delivery.give_up_at = now + dt.timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
        delivery.finished_at = None
        delivery.replay_requested = True
        delivery.save(update_fields=["state", "next_attempt_at", "give_up_at", "finished_at", "replay_requested"])
        doorbell.ring(doorbell.JOBS)
    return delivery


PRUNE_EVERY_SECONDS = 3600
_last_prune = [0.0]


def webhooks_job() -> bool:
    """The bus job: fan out new events, then send what is due. True when more is waiting.
    About once an hour per process it also prunes the log."""
    if time.monotonic() - _last_prune[0] > PRUNE_EVERY_SECONDS:
        _last_prune[0] = time.monotonic()
        webhooks_log_prune()
    read = webhooks_fan_out()
    tried = webhooks_dispatch()
    return read >= FAN_OUT_BATCH or tried > 0
