"""Long polling (`manage.py run_telegram`, and `make run`): getUpdates for installs without a
public URL. One poller per bot, wherever it runs (a lease on the bot row); each update is made
durable in the journal before the next getUpdates call acknowledges it with a higher offset, so
a crash replays updates (deduplicated by the journal), never loses them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.gateways import loops
from apps.gateways.loops import LeasedLoop
from apps.gateways.telegram import client
from apps.gateways.telegram.client import ALLOWED_UPDATES, TelegramError, TelegramUnreachable
from apps.gateways.telegram.intake import update_accept
from apps.gateways.telegram.models import TelegramBot

log = logging.getLogger(__name__)

LEASE_SECONDS = 90


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

    def run_once(pk: int) -> float:
        poll_once(TelegramBot.objects.get(pk=pk), timeout=timeout)
        return 0.0

    def provider_error(pk: int, exc: Exception) -> float | None:
        if not isinstance(exc, (TelegramError, TelegramUnreachable)):
            return None
        _trouble(pk, exc)
        return (exc.retry_after if isinstance(exc, TelegramError) else None) or 0.0

    LeasedLoop(
        what="Telegram polling of bot",
        claim=poll_claim,
        release=poll_release,
        wanted=lambda pk: TelegramBot.objects.filter(pk=pk, mode=TelegramBot.Mode.POLLING).exists(),
        run_once=run_once,
        provider_error=provider_error,
        lease_seconds=LEASE_SECONDS,
    ).run(bot_pk, stop, owner=owner)


def polling_bots() -> list[int]:
    return list(TelegramBot.objects.filter(mode=TelegramBot.Mode.POLLING).order_by("pk").values_list("pk", flat=True))


def supervise(stop: threading.Event, *, every: float = 15.0, timeout: int | None = None) -> None:
    """A poller thread per bot in polling mode, started as bots appear, until `stop` is set."""
    loops.supervise(
        stop,
        accounts=polling_bots,
        loop=lambda pk, stop_, owner: poll_loop(pk, stop_, owner=owner, timeout=timeout),
        name="telegram-poll",
        every=every,
    )


def start_polling() -> threading.Thread | None:
    """For `make run` (serve, embedded mode): poll on threads of the server when any Telegram
    inbox is in polling mode. None when there is none."""
    return loops.start_supervisor(polling_bots, supervise, "telegram-poll")
