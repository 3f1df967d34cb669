"""Delivery reports (RFC 3464 DSNs and the common non-RFC bounces) applied to what we sent."""

from __future__ import annotations

import logging
from typing import Any

from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.conversations.services import message_record_failed
from apps.gateways.base import Unroutable
from apps.mail.addresses import clean_ids, one_line
from apps.mail.models import EmailMessage, EmailMessageId

log = logging.getLogger(__name__)

BOUNCED = "bounced"


def _failed_recipients(bounce: dict[str, Any]) -> list[dict[str, Any]]:
    recipients = [r for r in bounce.get("recipients") or [] if isinstance(r, dict)]
    return [
        r
        for r in recipients
        if str(r.get("action") or "").lower() == "failed" or str(r.get("status") or "").startswith("5")
    ]


def bounce_in_words(recipient: dict[str, Any]) -> str:
    address = one_line(str(recipient.get("address") or ""), 320)
    diagnostic = one_line(str(recipient.get("diagnostic") or ""), 400)
    status = one_line(str(recipient.get("status") or ""), 20)
    text = f"The mail to {address or 'the customer'} bounced"
    if diagnostic:
        text += f": {diagnostic}"
    if status and status not in diagnostic:
        text += f" (status {status})"
    return text


def email_bounce_apply(*, entry: InboundEntry, bounce: dict[str, Any]) -> Message | None:
    """Mark the reply a bounce is about as failed, with the diagnostic in words.

    The report finds our message through the Message-ID it quotes (ours are unguessable, so a
    forged report cannot fail a message its sender never saw). A report that only says
    "delayed" changes nothing. Returns the failed message, or None.
    """
    ids = clean_ids(bounce.get("original_message_ids") or [])
    row = (
        EmailMessageId.objects.filter(rfc_id__in=ids, direction=EmailMessageId.Direction.OUTBOUND)
        .exclude(message=None)
        .order_by("id")
        .first()
        if ids
        else None
    )
    if row is None or row.message_id is None:
        raise Unroutable("a delivery report about no mail we sent (it quotes none of our Message-IDs)")
    recipients = [r for r in bounce.get("recipients") or [] if isinstance(r, dict)]
    failed = _failed_recipients(bounce)
    if recipients and not failed:
        log.info("delivery report for message %s without a failure (%s); nothing to do", row.message_id, recipients)
        return None
    detail = failed[0] if failed else {"diagnostic": "the receiving server sent the mail back"}
    text = bounce_in_words(detail)
    message = Message.objects.filter(pk=row.message_id).only("id", "status", "error_code").first()
    if message is None:
        return None
    if message.status == Message.Status.FAILED and message.error_code == BOUNCED:
        return message  # a second report about the same mail
    message = message_record_failed(message_id=message.pk, code=BOUNCED, text=text)
    EmailMessage.objects.filter(message_id=message.pk).update(
        bounce={"kind": bounce.get("kind") or "", "recipient": detail, "text": text}, bounce_entry=entry
    )
    return message
