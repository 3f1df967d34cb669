"""What admins do with the widget: settings, user ids attached to contacts, the embed snippet."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import Agent, Inbox
from apps.contacts.models import Identity
from apps.contacts.services import identity_attach
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.widget.models import WidgetSettings, new_secret
from apps.widget.services.common import USER_ID_MAX, widget_settings_for

log = logging.getLogger("apps.widget.services")

# --- administration -----------------------------------------------------------------------


def _require_admin(by: Any) -> None:

    if by is None or getattr(by, "role", None) != Agent.Role.ADMIN:
        raise PermissionDenied("only an administrator may do this", code="admin_only")


def user_id_identity_add(*, contact_id: int, user_id: str, by: Any) -> tuple[Identity, bool]:
    """An admin ties a host-site user id to a contact (e.g. the SMS customer who is user u-42),
    so that the widget chats of that user, once the site vouches for them with a valid hash,
    land in this contact's timeline. Unverified until such a hash arrives. Returns (identity, created).
    """

    _require_admin(by)
    clean = " ".join((user_id or "").split()) if isinstance(user_id, str) else ""
    if not clean or len(clean) > USER_ID_MAX:
        raise InvalidInput(f"a user id is 1 to {USER_ID_MAX} characters", code="invalid_address")
    return identity_attach(contact_id=contact_id, kind=Identity.Kind.USER_ID, address=clean, label=f"user id {clean}")


WIDGET_FIELDS = (
    "allowed_origins",
    "greeting",
    "offline_message",
    "colour",
    "business_hours",
    "require_identity",
    "ask_email_when_offline",
)


def widget_settings_update(
    *, inbox_id: int, by: Any, regenerate_secret: bool = False, **changes: Any
) -> WidgetSettings:
    """An admin changes a widget inbox's settings (validated as the admin form does)."""

    _require_admin(by)
    unknown = set(changes) - set(WIDGET_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown settings {sorted(unknown)}", code="invalid")
    with transaction.atomic():
        inbox = Inbox.objects.select_for_update(no_key=True).filter(pk=inbox_id, channel=Inbox.Channel.WIDGET).first()
        if inbox is None:
            raise NotFound("no such widget inbox")
        ws = widget_settings_for(inbox)
        for name, value in changes.items():
            if name == "allowed_origins" and isinstance(value, list | tuple):
                value = "\n".join(str(v).strip() for v in value)
            setattr(ws, name, value)
        if regenerate_secret:
            ws.secret = new_secret()
        try:
            ws.full_clean(exclude=["inbox"])
        except ValidationError as exc:
            first = next(iter(exc.message_dict.items()))
            raise InvalidInput(f"{first[0]}: {first[1][0]}", code="invalid_widget_settings") from exc
        ws.save()
    return ws


def embed_snippet(inbox: Inbox) -> str:
    """The HTML an admin pastes into the host site's pages."""
    return (
        f'<script src="{settings.PUBLIC_BASE_URL}/widget.js" data-inbox="{inbox.key}" async></script>\n'
        "<!-- Signed-in users (optional; required when the inbox requires identity):\n"
        '     add data-user-id="<the user id>" data-user-hash="<HMAC-SHA256 hex, see below>"\n'
        '     data-user-name="…" data-user-email="…" to the tag. -->'
    )


def hmac_recipes(secret: str = "<widget secret>") -> dict[str, str]:
    """How the host site's server computes data-user-hash (never in the browser: the secret stays server-side)."""
    return {
        "python": (
            f'import hashlib, hmac\nuser_hash = hmac.new(b"{secret}", user_id.encode(), hashlib.sha256).hexdigest()'
        ),
        "node": (
            'const crypto = require("crypto");\n'
            f'const userHash = crypto.createHmac("sha256", "{secret}").update(userId).digest("hex");'
        ),
        "php": f"$userHash = hash_hmac('sha256', $userId, '{secret}');",
    }
