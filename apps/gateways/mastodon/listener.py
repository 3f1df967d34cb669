"""The streaming listener (`manage.py run_mastodon`, and `make run`): one per account, wherever
it runs (a lease on the account row).

The stream has no replay, so it only lowers latency: after every (re)connect, and every
MASTODON_BACKFILL_SECONDS while connected, the notifications API is read from the stored cursor
(`min_id`) until it is empty. Each mention is made durable in the journal before the cursor
moves past it, and the journal dedupes on the status id, so a mention seen by both paths, or
read again after a crash, is stored once; none is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from apps.gateways import loops
from apps.gateways.loops import LeasedLoop
from apps.gateways.mastodon import client
from apps.gateways.mastodon.client import MastodonError, MastodonUnreachable
from apps.gateways.mastodon.gateway import remember_limit
from apps.gateways.mastodon.intake import notification_accept
from apps.gateways.mastodon.models import MastodonAccount

log = logging.getLogger(__name__)

LEASE_SECONDS = 90
MAX_PAGES = 50  # one backfill reads at most this many pages of 80; the next round goes on


def stream_claim(account_pk: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        MastodonAccount.objects.filter(pk=account_pk)
        .filter(Q(stream_lease_until__isnull=True) | Q(stream_lease_until__lt=now) | Q(stream_owner=owner))
        .update(stream_owner=owner, stream_lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))
    )


def stream_release(account_pk: int, owner: str) -> None:
    MastodonAccount.objects.filter(pk=account_pk, stream_owner=owner).update(
        stream_owner="", stream_lease_until=None, stream_connected_at=None
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def account_introduce(account: MastodonAccount) -> None:
    """Learn the desk account's id and handle, and the instance's limits (once)."""
    if account.account_id:
        return
    me = client.verify_credentials(account.base_url, account.access_token)
    account.account_id = str(me.get("id") or "")
    account.username = str(me.get("acct") or me.get("username") or "")
    try:
        info = client.instance(account.base_url, account.access_token)
    except MastodonError:
        info = {}
    config = _object(info.get("configuration"))
    statuses = _object(config.get("statuses"))
    urls = _object(config.get("urls"))
    if isinstance(statuses.get("max_characters"), int):
        account.max_characters = statuses["max_characters"]
    if isinstance(urls.get("streaming"), str):
        account.streaming_url = urls["streaming"]
    account.save(update_fields=["account_id", "username", "max_characters", "streaming_url"])


def backfill(account: MastodonAccount) -> int:
    """Every mention after the cursor into the journal, page by page (oldest page first), the
    cursor moved after each page is durable. Returns how many were new."""
    new = 0
    for _ in range(MAX_PAGES):
        answer = client.notifications(account.base_url, account.access_token, min_id=account.notification_cursor)
        remember_limit(account, answer.limit)  # backfills spend the same budget as sends
        page = answer.body if isinstance(answer.body, list) else []
        if not page:
            break
        for notification in reversed(page):  # oldest first: threads in the order they were posted
            new += notification_accept(account, notification)
        ids = [str(n["id"]) for n in page if isinstance(n, dict) and n.get("id")]
        if not ids:
            break
        # min_id pages come newest first: the first id is the newest of this page.
        account.notification_cursor = ids[0]
        MastodonAccount.objects.filter(pk=account.pk).update(notification_cursor=ids[0])
    MastodonAccount.objects.filter(pk=account.pk).update(last_backfill_at=timezone.now(), last_error="")
    return new


def _trouble(account_pk: int, exc: Exception) -> None:
    log.warning("Mastodon listener of account %s: %s", account_pk, exc)
    MastodonAccount.objects.filter(pk=account_pk).update(last_error=str(exc)[:500], stream_connected_at=None)


def listen_once(account: MastodonAccount, stop: threading.Event, *, owner: str) -> None:
    """Backfill, then follow the stream until it ends (or `stop`), backfilling every
    MASTODON_BACKFILL_SECONDS and renewing the lease as events and heartbeats come."""
    account_introduce(account)
    backfill(account)
    last_backfill = time.monotonic()
    base = account.streaming_url.rstrip("/") if account.streaming_url else account.base_url
    connected = False
    for event, data in client.stream(base, account.access_token, read_timeout=settings.MASTODON_STREAM_TIMEOUT):
        now = timezone.now()
        if not connected:
            connected = True
            MastodonAccount.objects.filter(pk=account.pk).update(stream_connected_at=now)
            backfill(account)  # what came between the first backfill and the stream opening
            last_backfill = time.monotonic()
        if event == "notification":
            notification_accept(account, client.decode(data))
            MastodonAccount.objects.filter(pk=account.pk).update(last_event_at=now)
        if stop.is_set():
            return
        if not stream_claim(account.pk, owner):
            return  # the lease went to another listener
        if time.monotonic() - last_backfill > settings.MASTODON_BACKFILL_SECONDS:
            backfill(account)
            last_backfill = time.monotonic()
        close_old_connections()


def listen_loop(account_pk: int, stop: threading.Event, *, owner: str) -> None:
    """Follow one account's stream until `stop` is set or the account is gone; back off on errors."""

    def run_once(pk: int) -> float:
        listen_once(MastodonAccount.objects.get(pk=pk), stop, owner=owner)
        return 1.0  # the stream ended: reconnect (and backfill) soon

    def provider_error(pk: int, exc: Exception) -> float | None:
        if not isinstance(exc, (MastodonError, MastodonUnreachable)):
            return None
        _trouble(pk, exc)
        return (exc.retry_after if isinstance(exc, MastodonError) else None) or 0.0

    LeasedLoop(
        what="Mastodon listener of account",
        claim=stream_claim,
        release=stream_release,
        wanted=lambda pk: MastodonAccount.objects.filter(pk=pk).exists(),
        run_once=run_once,
        provider_error=provider_error,
        lease_seconds=LEASE_SECONDS,
    ).run(account_pk, stop, owner=owner)


def accounts() -> list[int]:
    return list(MastodonAccount.objects.order_by("pk").values_list("pk", flat=True))


def supervise(stop: threading.Event, *, every: float = 15.0) -> None:
    """A listener thread per Mastodon account, started as accounts appear, until `stop`."""
    loops.supervise(
        stop,
        accounts=accounts,
        loop=lambda pk, stop_, owner: listen_loop(pk, stop_, owner=owner),
        name="mastodon-stream",
        every=every,
    )


def start_listening() -> threading.Thread | None:
    """For `make run` (embedded mode): listen on threads of the server when any Mastodon inbox
    exists. None when there is none."""
    return loops.start_supervisor(accounts, supervise, "mastodon-stream")


def backfill_all() -> int:
    """The periodic safety net (a bus sweep): a backfill of every account whose listener has
    not backfilled for twice the period (no listener running, or one stuck)."""
    stale = timezone.now() - dt.timedelta(seconds=2 * settings.MASTODON_BACKFILL_SECONDS)
    new = 0
    for account in MastodonAccount.objects.filter(Q(last_backfill_at__isnull=True) | Q(last_backfill_at__lt=stale)):
        try:
            new += backfill(account)
        except (MastodonError, MastodonUnreachable) as exc:
            _trouble(account.pk, exc)
    return new
