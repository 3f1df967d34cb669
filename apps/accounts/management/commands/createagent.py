import secrets

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Inbox, Team
from apps.accounts.services import agent_create


class Command(BaseCommand):
    help = "Create an agent (or reset one) and print their API token."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--password", help="default: a random one, printed")
        parser.add_argument("--email", default="")
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument("--admin", action="store_true", help="may use the Django admin")
        parser.add_argument(
            "--supervisor", action="store_true", help="sees every inbox of their teams, the reports, may reassign"
        )
        parser.add_argument("--inbox", action="append", default=[], help="inbox name or id (repeatable); default: all")
        parser.add_argument("--team", action="append", default=[], help="team name (repeatable)")
        parser.add_argument("--capacity", type=int, default=10, help="open conversations at once")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        inboxes = []
        for ref in opts["inbox"]:
            inbox = (
                Inbox.objects.filter(pk=int(ref)).first() if ref.isdigit() else Inbox.objects.filter(name=ref).first()
            )
            if inbox is None:
                raise CommandError(f"no inbox {ref!r}")
            inboxes.append(inbox)
        if not opts["inbox"]:
            inboxes = list(Inbox.objects.all())
        teams = [Team.objects.get_or_create(name=name)[0] for name in opts["team"]]
        password = opts["password"] or secrets.token_urlsafe(12)
        agent, token = agent_create(
            username=opts["username"],
            password=password,
            email=opts["email"],
            display_name=opts["name"],
            is_admin=opts["admin"],
            role="supervisor" if opts["supervisor"] and not opts["admin"] else None,
            inboxes=inboxes,
            teams=teams,
            max_conversations=opts["capacity"],
        )
        if not opts["password"]:
            self.stdout.write(f"password: {password}")
        self.stdout.write(f"agent: {agent.username} (id {agent.pk})")
        self.stdout.write(f"token: {token}")
