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
import os
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from apps.gateways.mastodon import client
from apps.gateways.mastodon.client import MastodonError, MastodonUnreachable
from apps.gateways.mastodon.gateway import remember_limit
from apps.gateways.mastodon.intake import notification_accept
from apps.gateways.mastodon.models import MastodonAccount

log = logging.getLogger(__name__)

LEASE_SECONDS = 90
MAX_BACKOFF = 60.0
MAX_PAGES = 50  # one backfill reads at most this many pages of 80; the next round goes on


def owner_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
    failures = 0
    try:
        while not stop.is_set():
            wait = 0.0
            try:
                if not stream_claim(account_pk, owner):
                    if not MastodonAccount.objects.filter(pk=account_pk).exists():
                        return
                    wait = LEASE_SECONDS / 3
                else:
                    listen_once(MastodonAccount.objects.get(pk=account_pk), stop, owner=owner)
                    failures = 0
                    wait = 1.0  # the stream ended: reconnect (and backfill) soon
            except (MastodonError, MastodonUnreachable) as exc:
                failures += 1
                retry = exc.retry_after if isinstance(exc, MastodonError) else None
                wait = retry or min(MAX_BACKOFF, 2.0 ** min(failures, 6))
                _trouble(account_pk, exc)
            except Exception:  # noqa: BLE001 - the database or a bug: keep the listener alive
                failures += 1
                wait = min(MAX_BACKOFF, 2.0 ** min(failures, 6))
                log.exception("Mastodon listener of account %s failed", account_pk)
            finally:
                close_old_connections()
            if wait:
                stop.wait(wait)
    finally:
        try:
            stream_release(account_pk, owner)
        except Exception:  # noqa: BLE001
            log.exception("could not release the stream lease of Mastodon account %s", account_pk)
        close_old_connections()


def accounts() -> list[int]:
    return list(MastodonAccount.objects.order_by("pk").values_list("pk", flat=True))


def supervise(stop: threading.Event, *, every: float = 15.0) -> None:
    """A listener thread per Mastodon account, started as accounts appear, until `stop`."""
    owner = owner_name()
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        try:
            for account_pk in accounts():
                thread = threads.get(account_pk)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(
                        target=listen_loop,
                        args=(account_pk, stop),
                        kwargs={"owner": owner},
                        daemon=True,
                        name=f"mastodon-stream-{account_pk}",
                    )
                    threads[account_pk] = thread
                    thread.start()
        except Exception:  # noqa: BLE001
            log.exception("listing the Mastodon accounts failed")
        finally:
            close_old_connections()
        stop.wait(every)
    for thread in threads.values():
        thread.join(timeout=5)


def start_listening() -> threading.Thread | None:
    """For `make run` (embedded mode): listen on threads of the server when any Mastodon inbox
    exists. None when there is none."""
    try:
        if not accounts():
            return None
    except Exception:  # noqa: BLE001 - not migrated yet
        return None
    finally:
        close_old_connections()
    thread = threading.Thread(target=supervise, args=(threading.Event(),), daemon=True, name="mastodon-stream")
    thread.start()
    return thread


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
