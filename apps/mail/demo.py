"""The demo email inbox of `seed_demo`."""

from __future__ import annotations

from django.conf import settings

from apps.accounts.models import Inbox, Team
from apps.mail.models import EmailInboxSettings

LOCAL_DOMAIN = "support.localhost"


def demo_email_inbox(*, team: Team) -> Inbox:
    """support@INBOUND_EMAIL_DOMAIN (support@support.localhost without one), acknowledging new
    conversations. Safe to call again."""
    address = f"support@{settings.INBOUND_EMAIL_DOMAIN or LOCAL_DOMAIN}"
    inbox = Inbox.objects.filter(channel=Inbox.Channel.EMAIL, address=address).first()
    if inbox is None:
        inbox = Inbox.objects.create(name="Demo Email", channel=Inbox.Channel.EMAIL, address=address, team=team)
    EmailInboxSettings.objects.get_or_create(
        inbox=inbox, defaults={"from_name": "Demo Support", "auto_ack_enabled": True}
    )
    return inbox
