"""Seed the mail-in bench database: one email inbox and one agent (member) with an API token.

Run by bench/email_inbound.py with the bench environment. Prints one JSON line:
{"inbox_id": …, "token": "…"}
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
    parser.add_argument("--address", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from apps.accounts.models import Inbox, Team
    from apps.accounts.services import agent_create

    team, _ = Team.objects.get_or_create(name="Bench")
    inbox = Inbox.objects.create(name="Bench mail", channel=Inbox.Channel.EMAIL, address=args.address, team=team)
    _, token = agent_create(
        username="mailbench",
        password="mail-bench-pass",
        display_name="Mail Bench",
        inboxes=[inbox],
        teams=[team],
        max_conversations=100000,
    )
    print(json.dumps({"inbox_id": inbox.pk, "token": token}))


if __name__ == "__main__":
    main()
