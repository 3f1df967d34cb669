"""Seed the bench database: one SMS inbox with auto-assignment, a team and K agents.

Run by bench/run.py with the bench environment (DATABASE_URL …). Prints one JSON line:
{"inbox_id": …, "inbox_address": "+1…", "agents": [{"id": …, "username": …, "token": …}, …]}
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

    team, _ = Team.objects.get_or_create(name="Bench")
    inbox = Inbox.objects.filter(channel=Inbox.Channel.SMS, address=args.address).first()
    if inbox is None:
        inbox = Inbox.objects.create(name="Bench SMS", channel=Inbox.Channel.SMS, address=args.address, team=team)
    agents = []
    for index in range(args.agents):
        agent, token = agent_create(
            username=f"bench{index}",
            password=f"bench-pass-{index}",
            display_name=f"Bench Agent {index}",
            inboxes=[inbox],
            teams=[team],
            max_conversations=args.capacity,
        )
        agents.append({"id": agent.pk, "username": agent.username, "token": token})
    print(json.dumps({"inbox_id": inbox.pk, "inbox_address": inbox.address, "agents": agents}))


if __name__ == "__main__":
    main()
