from django.core.management.base import BaseCommand

from apps.accounts.models import Inbox, Team
from apps.accounts.services import agent_create
from apps.macros.models import Macro
from apps.mail.demo import demo_email_inbox
from apps.sla.models import SlaPolicy
from apps.triage.demo import demo_triage_rules
from apps.widget.demo import demo_widget_inbox

DEMO_AGENTS = [
    # username, password, display name, admin
    ("ana", "ana-demo-pass", "Ana Ortega", True),
    ("ben", "ben-demo-pass", "Ben Okafor", False),
]
DEMO_SMS_NUMBER = "+15005550006"


class Command(BaseCommand):
    help = "Create the demo: an SMS inbox, an email inbox, a widget inbox, a team and two agents (safe to run again)."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        team, _ = Team.objects.get_or_create(name="Support")
        inbox = Inbox.objects.filter(channel=Inbox.Channel.SMS, address=DEMO_SMS_NUMBER).first()
        if inbox is None:
            inbox = Inbox.objects.create(name="Demo SMS", channel=Inbox.Channel.SMS, address=DEMO_SMS_NUMBER, team=team)
        self.stdout.write(f"SMS inbox: {inbox.name} on {inbox.address}")

        mailbox = demo_email_inbox(team=team)
        self.stdout.write(f"Email inbox: {mailbox.name} on {mailbox.address}")

        chat = demo_widget_inbox(team=team)
        self.stdout.write(f"Widget inbox: {chat.name}, key {chat.key} (demo page: /widget/demo/)")
        for username, password, name, admin in DEMO_AGENTS:
            agent, token = agent_create(
                username=username,
                password=password,
                display_name=name,
                is_admin=admin,
                inboxes=[inbox, mailbox, chat],
                teams=[team],
            )
            role = "admin + agent" if admin else "agent"
            self.stdout.write(f"  {role:13} {username} / {password}   API token {token}")
        added = demo_triage_rules()
        self.stdout.write(f"Triage rules: {added} added (console → Triage, docs/triage.md)")
        # A service level and two macros to try (docs/sla.md); an existing one is left as it is.
        SlaPolicy.objects.get_or_create(
            name="Demo: first reply in 1 h",
            defaults={"first_response_minutes": 60, "resolution_minutes": 24 * 60, "business_hours": False},
        )
        Macro.objects.get_or_create(
            name="Thanks and resolve",
            defaults={"reply": "Thanks {contact}, glad we could help! — {agent}", "status": "resolved"},
        )
        Macro.objects.get_or_create(
            name="Waiting on the customer",
            defaults={
                "reply": "Could you send us a few more details?",
                "status": "pending",
                "add_labels": ["needs-info"],
            },
        )
