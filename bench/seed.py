"""Seed the bench database: one SMS inbox with auto-assignment, a team and K agents.

Also a Telegram inbox with its bot (webhook mode, a fixed secret), for the Telegram phases.
Run by bench/run.py with the bench environment (DATABASE_URL …). Prints one JSON line:
{"inbox_id": …, "inbox_address": "+1…", "agents": [{"id": …, "username": …, "token": …}, …],
 "telegram": {"inbox_id": …, "key": …, "secret": …}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=1000, help="open conversations per agent")
    parser.add_argument("--address", default="+15005550100")
    args = parser.parse_args()

    import django

    django.setup()
    from apps.accounts.models import Inbox, Team
    from apps.accounts.services import agent_create
    from apps.gateways.telegram.models import TelegramBot

    team, _ = Team.objects.get_or_create(name="Bench")
    inbox = Inbox.objects.filter(channel=Inbox.Channel.SMS, address=args.address).first()
    if inbox is None:
        inbox = Inbox.objects.create(name="Bench SMS", channel=Inbox.Channel.SMS, address=args.address, team=team)
    tg_inbox = Inbox.objects.filter(channel=Inbox.Channel.TELEGRAM, address="bench_bot").first()
    if tg_inbox is None:
        tg_inbox = Inbox.objects.create(
            name="Bench Telegram", channel=Inbox.Channel.TELEGRAM, address="bench_bot", team=team
        )
    bot, _ = TelegramBot.objects.get_or_create(
        inbox=tg_inbox,
        defaults={
            "token": "424242:BENCH-token",
            "webhook_secret": "bench-telegram-secret",
            "mode": TelegramBot.Mode.WEBHOOK,
        },
    )
    agents = []
    for index in range(args.agents):
        agent, token = agent_create(
            username=f"bench{index}",
            password=f"bench-pass-{index}",
            display_name=f"Bench Agent {index}",
            inboxes=[inbox, tg_inbox],
            teams=[team],
            max_conversations=args.capacity,
        )
        agents.append({"id": agent.pk, "username": agent.username, "token": token})
    telegram = {"inbox_id": tg_inbox.pk, "key": tg_inbox.key, "secret": bot.webhook_secret}
    print(json.dumps({"inbox_id": inbox.pk, "inbox_address": inbox.address, "agents": agents, "telegram": telegram}))


if __name__ == "__main__":
    main()
