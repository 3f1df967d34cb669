"""Long polling (`manage.py run_telegram`, and `make run`): getUpdates for installs without a
public URL. One poller per bot, wherever it runs (a lease on the bot row); each update is made
durable in the journal before the next getUpdates call acknowledges it with a higher offset, so
a crash replays updates (deduplicated by the journal), never loses them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from apps.gateways.telegram import client
from apps.gateways.telegram.client import ALLOWED_UPDATES, TelegramError, TelegramUnreachable
from apps.gateways.telegram.intake import update_accept
from apps.gateways.telegram.models import TelegramBot

log = logging.getLogger(__name__)

LEASE_SECONDS = 90
MAX_BACKOFF = 60.0


def owner_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def poll_claim(bot_pk: int, owner: str) -> bool:
    """Take (or keep) the bot's polling lease; False while another poller holds it."""
    now = timezone.now()
    return bool(
        TelegramBot.objects.filter(pk=bot_pk, mode=TelegramBot.Mode.POLLING)
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now) | Q(poll_owner=owner))
        .update(poll_owner=owner, poll_lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))
    )


def poll_release(bot_pk: int, owner: str) -> None:
    TelegramBot.objects.filter(pk=bot_pk, poll_owner=owner).update(poll_owner="", poll_lease_until=None)


def poll_once(bot: TelegramBot, *, timeout: int) -> int:
    """One getUpdates call from the stored offset; every update journalled, then the offset
    moved past them. Returns how many updates came."""
    params: dict = {"timeout": timeout, "allowed_updates": ALLOWED_UPDATES}
    if bot.update_offset:
        params["offset"] = bot.update_offset
    updates = client.call(bot.token, "getUpdates", params, timeout=timeout + 10)
    if not isinstance(updates, list):
        raise TelegramError(status=200, error_code=0, description="getUpdates did not answer a list")
    highest: int | None = None
    for update in updates:
        update_accept(bot, json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode())
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if isinstance(update_id, int):
            highest = update_id if highest is None else max(highest, update_id)
    # Only now, with every update durable: the next call (offset = highest + 1) confirms them.
    changes: dict = {"last_polled_at": timezone.now(), "last_error": ""}
    if highest is not None:
        changes["update_offset"] = highest + 1
        bot.update_offset = highest + 1
    TelegramBot.objects.filter(pk=bot.pk).update(**changes)
    return len(updates)


def _trouble(bot_pk: int, exc: Exception) -> None:
    text = str(exc)
    if isinstance(exc, TelegramError) and exc.error_code == 409:
        text = f"{text} — a webhook is set for this bot; polling needs it removed (manage.py telegram_webhook --delete)"
    log.warning("Telegram polling of bot %s failed: %s", bot_pk, text)
    TelegramBot.objects.filter(pk=bot_pk).update(last_error=text[:500])


def poll_loop(bot_pk: int, stop: threading.Event, *, owner: str, timeout: int | None = None) -> None:
    """Poll one bot until `stop` is set or the bot leaves polling mode; back off on errors."""
    timeout = settings.TELEGRAM_POLL_TIMEOUT if timeout is None else timeout
    failures = 0
    try:
        while not stop.is_set():
            wait = 0.0
            try:
                if not poll_claim(bot_pk, owner):
                    if not TelegramBot.objects.filter(pk=bot_pk, mode=TelegramBot.Mode.POLLING).exists():
                        return  # deleted, or switched to the webhook
                    wait = LEASE_SECONDS / 3  # another poller has it
                else:
                    bot = TelegramBot.objects.get(pk=bot_pk)
                    poll_once(bot, timeout=timeout)
                    failures = 0
            except (TelegramError, TelegramUnreachable) as exc:
                failures += 1
                retry = exc.retry_after if isinstance(exc, TelegramError) else None
                wait = retry or min(MAX_BACKOFF, 2.0 ** min(failures, 6))
                _trouble(bot_pk, exc)
            except Exception:  # noqa: BLE001 - the database or a bug: keep the poller alive
                failures += 1
                wait = min(MAX_BACKOFF, 2.0 ** min(failures, 6))
                log.exception("Telegram polling of bot %s failed", bot_pk)
            finally:
                close_old_connections()
            if wait:
                stop.wait(wait)
    finally:
        try:
            poll_release(bot_pk, owner)
        except Exception:  # noqa: BLE001
            log.exception("could not release the polling lease of bot %s", bot_pk)
        close_old_connections()


def polling_bots() -> list[int]:
    return list(TelegramBot.objects.filter(mode=TelegramBot.Mode.POLLING).order_by("pk").values_list("pk", flat=True))


def supervise(stop: threading.Event, *, every: float = 15.0, timeout: int | None = None) -> None:
    """A poller thread per bot in polling mode, started as bots appear, until `stop` is set."""
    owner = owner_name()
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        try:
            for bot_pk in polling_bots():
                thread = threads.get(bot_pk)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(
                        target=poll_loop,
                        args=(bot_pk, stop),
                        kwargs={"owner": owner, "timeout": timeout},
                        daemon=True,
                        name=f"telegram-poll-{bot_pk}",
                    )
                    threads[bot_pk] = thread
                    thread.start()
        except Exception:  # noqa: BLE001
            log.exception("listing the Telegram bots to poll failed")
        finally:
            close_old_connections()
        stop.wait(every)
    for thread in threads.values():
        thread.join(timeout=5)


def start_polling() -> threading.Thread | None:
    """For `make run` (serve, embedded mode): poll on threads of the server when any Telegram
    inbox is in polling mode. None when there is none."""
    try:
        if not polling_bots():
            return None
    except Exception:  # noqa: BLE001 - not migrated yet
        return None
    finally:
        close_old_connections()
    thread = threading.Thread(target=supervise, args=(threading.Event(),), daemon=True, name="telegram-poll")
    thread.start()
    return thread
