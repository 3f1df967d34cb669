"""An update into the journal: the one thing the webhook and the poller do with it."""

from __future__ import annotations

from apps.bus.services import inbound_accept
from apps.gateways.telegram.gateway import JOURNAL_CHANNEL, journal_fields
from apps.gateways.telegram.models import TelegramBot


def update_accept(bot: TelegramBot, raw: bytes) -> bool:
    """Make an update durable (deduplicated by the bot's source and its update_id). Malformed
    input is kept raw and flagged. Returns whether it was new."""
    provider_id, sender, flag = journal_fields(raw)
    _, created = inbound_accept(
        source=bot.source,
        provider_message_id=provider_id,
        channel=JOURNAL_CHANNEL,
        sender=sender,
        payload={"inbox": [str(bot.inbox_id)], "bot": [str(bot.pk)]},
        raw=raw,
        flag_reason=flag,
    )
    return created
