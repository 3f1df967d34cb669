"""A mention into the journal: the one thing the stream and the backfill do with it."""

from __future__ import annotations

import json
from typing import Any

from apps.bus.services import inbound_accept
from apps.gateways.mastodon.gateway import JOURNAL_CHANNEL, journal_fields
from apps.gateways.mastodon.models import MastodonAccount


def notification_accept(account: MastodonAccount, notification: Any) -> bool:
    """Make a mention durable (deduplicated by the account's source and the status id). Other
    notification types are not the desk's business and are skipped. Returns whether it was new."""
    if isinstance(notification, dict) and notification.get("type") not in (None, "mention"):
        return False
    raw = json.dumps(notification, ensure_ascii=False, separators=(",", ":")).encode()
    provider_id, sender, flag = journal_fields(raw, account.host)
    _, created = inbound_accept(
        source=account.source,
        provider_message_id=provider_id,
        channel=JOURNAL_CHANNEL,
        sender=sender,
        payload={"inbox": [str(account.inbox_id)], "account": [str(account.pk)], "host": [account.host]},
        raw=raw,
        flag_reason=flag,
    )
    return created
