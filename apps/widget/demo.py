"""The demo widget inbox of `seed_demo`, and how the demo page finds it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from apps.accounts.models import Inbox, Team
from apps.widget.models import WidgetSettings

DEMO_NAME = "Demo widget"


def demo_origins() -> list[str]:
    """The origins the demo page is opened from: PUBLIC_BASE_URL's (what `make run PORT=…` sets),
    and for a local desk the same port on the other spelling of this machine (localhost or
    127.0.0.1)."""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    origins = [f"{parts.scheme}://{parts.netloc}".lower()]
    twin = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}.get(parts.hostname or "")
    if twin:
        origins.append(f"{parts.scheme}://{twin}" + (f":{parts.port}" if parts.port else ""))
    return origins


def demo_widget_inbox(*, team: Team) -> Inbox:
    """A widget inbox marked `config["demo"]`, embeddable from the local server. Safe to call again."""
    inbox = demo_widget_inbox_get()
    if inbox is None:
        inbox = Inbox.objects.create(name=DEMO_NAME, channel=Inbox.Channel.WIDGET, team=team, config={"demo": True})
    settings_row, created = WidgetSettings.objects.get_or_create(
        inbox=inbox,
        defaults={
            "allowed_origins": "\n".join(demo_origins()),
            "greeting": "Hi! This is the demo chat. Ask anything — an agent answers from the console.",
        },
    )
    if not created:
        missing = [o for o in demo_origins() if o not in settings_row.origins()]
        if missing:
            settings_row.allowed_origins = "\n".join([*settings_row.origins(), *missing])
            settings_row.save(update_fields=["allowed_origins", "updated_at"])
    return inbox


def demo_widget_inbox_get() -> Inbox | None:
    """The seeded demo widget inbox (for the /widget/demo/ page), or None before seed_demo."""
    return Inbox.objects.filter(channel=Inbox.Channel.WIDGET, config__demo=True).order_by("id").first()
