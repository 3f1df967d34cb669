"""`manage.py telegram_webhook <inbox>`: register the Telegram webhook of an inbox's bot."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from apps.gateways.telegram.client import TelegramError, TelegramUnreachable
from apps.gateways.telegram.models import TelegramBot
from apps.gateways.telegram.webhook import webhook_info, webhook_register, webhook_remove


def find_bot(ref: str) -> TelegramBot:
    match = Q(inbox__key=ref) | Q(inbox__name=ref) | Q(username=ref.lstrip("@"))
    if ref.isdigit():
        match |= Q(inbox_id=int(ref))
    bots = list(TelegramBot.objects.select_related("inbox").filter(match)[:2])
    if len(bots) != 1:
        raise CommandError(f"{'no' if not bots else 'more than one'} Telegram inbox matches {ref!r} (id, key or name)")
    return bots[0]


class Command(BaseCommand):
    help = "Register (or with --delete remove) the webhook of a Telegram inbox's bot; --info shows its state."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("inbox", help="the inbox's id, key or name (or the bot's @username)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--delete", action="store_true", help="remove the webhook and switch to long polling")
        group.add_argument("--info", action="store_true", help="show getWebhookInfo (pending updates, last error)")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        bot = find_bot(opts["inbox"])
        try:
            if opts["info"]:
                for key, value in sorted(webhook_info(bot).items()):
                    self.stdout.write(f"{key}: {value}")
            elif opts["delete"]:
                webhook_remove(bot)
                self.stdout.write(f"webhook removed for {bot}; the inbox is polled (manage.py run_telegram)")
            else:
                url = webhook_register(bot)
                self.stdout.write(f"webhook set for {bot}: {url}")
        except (TelegramError, TelegramUnreachable) as exc:
            raise CommandError(str(exc)) from exc
