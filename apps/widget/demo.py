"""The demo widget inbox of `seed_demo`, and how the demo page finds it."""

from __future__ import annotations

from apps.accounts.models import Inbox, Team
from apps.widget.models import WidgetSettings

DEMO_NAME = "Demo widget"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]


def demo_widget_inbox(*, team: Team) -> Inbox:
    """A widget inbox marked `config["demo"]`, embeddable from the local server. Safe to call again."""
    inbox = demo_widget_inbox_get()
    if inbox is None:
        inbox = Inbox.objects.create(name=DEMO_NAME, channel=Inbox.Channel.WIDGET, team=team, config={"demo": True})
    settings_row, created = WidgetSettings.objects.get_or_create(
        inbox=inbox,
        defaults={
            "allowed_origins": "\n".join(DEMO_ORIGINS),
            "greeting": "Hi! This is the demo chat. Ask anything — an agent answers from the console.",
        },
    )
    if not created:
        missing = [o for o in DEMO_ORIGINS if o not in settings_row.origins()]
        if missing:
            settings_row.allowed_origins = "\n".join([*settings_row.origins(), *missing])
            settings_row.save(update_fields=["allowed_origins", "updated_at"])
    return inbox


def demo_widget_inbox_get() -> Inbox | None:
    """The seeded demo widget inbox (for the /widget/demo/ page), or None before seed_demo."""
    return Inbox.objects.filter(channel=Inbox.Channel.WIDGET, config__demo=True).order_by("id").first()
