"""Mastodon on the bus: mentions and direct messages in (journal channel `mastodon`, threaded by
reply chain, link codes redeemed), replies out on the `mastodon` identity kind — publicly (a
reply to the post, its visibility kept) or privately (a direct status) — with media."""

from __future__ import annotations

import dataclasses
from typing import Any

from apps.accounts.models import Inbox
from apps.bus import registry
from apps.contacts.models import Identity
from apps.contacts.services import identity_resolve
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_receive, receiver_each_together
from apps.core.errors import InvalidInput, NoReplyChannel
from apps.gateways.base import InboundMessage, OutboundMessage, PermanentSendError, Unroutable
from apps.gateways.mastodon.gateway import JOURNAL_CHANNEL, KIND, PRIVATE, MastodonGateway
from apps.gateways.mastodon.listener import backfill_all
from apps.gateways.mastodon.models import MastodonAccount
from apps.linking.services import codes_in, identity_update_display, known_customer, link_redeem

PUBLIC_CHOICE, PRIVATE_CHOICE = "public", "private"


# --- in --------------------------------------------------------------------------------


def _reply_chain_conversation(inbox_id: int, meta: dict[str, Any], contact_id: int) -> Conversation | None:
    """The conversation of the post this one replies to (the customer's own earlier post or the
    desk's reply), when it is this customer's: a mention and its reply chain are one thread."""
    parent = meta.get("in_reply_to_id")
    if not parent:
        return None
    found = (
        Message.objects.filter(inbox_id=inbox_id, provider_id=parent, channel=KIND)
        .select_related("conversation")
        .first()
    )
    if found is None or found.conversation.contact_id != contact_id:
        return None
    return found.conversation


def mastodon_store(*, entry: Any, inbound: InboundMessage) -> Message:
    inbox = Inbox.objects.filter(pk=inbound.inbox_id).first() if inbound.inbox_id else None
    if inbox is None:
        raise Unroutable("the Mastodon inbox of this mention is gone")
    existing = Message.objects.filter(inbox=inbox, provider_id=inbound.provider_message_id).first()
    if existing is not None:
        return existing
    identity = identity_resolve(
        kind=KIND, address=inbound.sender, display=inbound.sender_display, verified=True, name=inbound.sender_name
    )
    identity_update_display(identity=identity, display=inbound.sender_display)  # the handle may have changed
    meta = dict(inbound.meta)
    details = dict(meta.get("mastodon") or {})
    private = details.get("visibility") == PRIVATE
    details["known_customer"] = known_customer(identity=identity)
    if codes_in(inbound.text) and not private:
        details["link_code_public"] = True  # flagged: a code anyone could read is never accepted
    meta["mastodon"] = details
    conversation = _reply_chain_conversation(inbox.pk, details, identity.contact_id)
    message, created = message_receive(
        inbox=inbox,
        inbound=dataclasses.replace(inbound, meta=meta),
        received_at=inbound.received_at,
        conversation=conversation,
        identity=identity,
    )
    if created:
        link_redeem(message=message, identity=identity, private=private)
    return message


# --- out -------------------------------------------------------------------------------


def last_post(identity: Identity, inbox_id: int, conversation_id: int | None = None) -> dict[str, Any] | None:
    """The customer's latest post the reply answers: in the conversation replied in when it has
    one (an agent answering an older thread answers that thread), else in the inbox."""
    posts = Message.objects.filter(
        inbox_id=inbox_id, identity=identity, direction=Message.Direction.INBOUND, channel=KIND
    ).order_by("-created_at", "-id")
    last = None
    if conversation_id is not None:
        last = posts.filter(conversation_id=conversation_id).values_list("meta", flat=True).first()
    if last is None:
        last = posts.values_list("meta", flat=True).first()
    details = (last or {}).get("mastodon") if isinstance(last, dict) else None
    return details if isinstance(details, dict) and details.get("status_id") else None


def reply_audience(
    identity: Identity, inbox_id: int, choice: str = "", conversation_id: int | None = None
) -> dict[str, Any]:
    """Where a reply goes: {"choice": public|private, "visibility", "in_reply_to_id", "mention"}.

    Public keeps the visibility of the customer's post (public, unlisted, followers-only);
    private is a direct status. With no choice, the reply goes the way the customer wrote."""
    post = last_post(identity, inbox_id, conversation_id)
    acct = (identity.display or "").lstrip("@") or (post or {}).get("acct", "")
    if choice not in ("", PUBLIC_CHOICE, PRIVATE_CHOICE):
        raise InvalidInput("visibility must be public or private", code="invalid_visibility")
    written = (post or {}).get("visibility") or PRIVATE
    if not choice:
        choice = PRIVATE_CHOICE if written == PRIVATE else PUBLIC_CHOICE
    if choice == PUBLIC_CHOICE:
        if post is None:
            raise InvalidInput(
                "there is no public post of this customer to reply to; reply privately", code="no_public_post"
            )
        if written == PRIVATE:
            raise InvalidInput(
                "the customer wrote privately (a direct message); a public reply would expose it — reply privately",
                code="public_reply_to_private",
            )
        visibility = written
    else:
        visibility = PRIVATE
    return {
        "choice": choice,
        "visibility": visibility,
        "in_reply_to_id": (post or {}).get("status_id", ""),
        "mention": f"@{acct}" if acct else "",
    }


def mastodon_reply_check(
    *,
    identity: Identity,
    inbox_id: int,
    body: str,
    template: dict[str, Any] | None,
    files: int = 0,
    options: dict[str, Any] | None = None,
    conversation_id: int | None = None,
) -> registry.ReplyPlan:
    """The Mastodon rule for a reply, before it is queued: public or private, the mention that
    makes the customer see it, and the instance's length limit. The text stored is exactly what
    goes out (what the public sees, for a public reply)."""
    if template is not None:
        raise InvalidInput("a reply on Mastodon cannot be a template", code="templates_not_supported")
    account = MastodonAccount.objects.filter(inbox_id=inbox_id).first()
    if account is None:
        raise NoReplyChannel("this inbox has no Mastodon account configured")
    audience = reply_audience(
        identity, inbox_id, str((options or {}).get("visibility") or ""), conversation_id=conversation_id
    )
    text = body.strip()
    mention = audience["mention"]
    if mention and not text.lower().startswith(mention.lower()):
        text = f"{mention} {text}".strip()
    if len(text) > account.max_characters:
        raise InvalidInput(
            f"the reply is {len(text)} characters with the mention; this instance takes {account.max_characters}",
            code="too_long",
        )
    meta = {
        "mastodon": {
            "visibility": audience["visibility"],
            "audience": audience["choice"],
            "in_reply_to_id": audience["in_reply_to_id"],
        }
    }
    return registry.ReplyPlan(body=text, meta=meta)


def mastodon_outbound_build(*, message: Message, outbound: OutboundMessage) -> OutboundMessage:
    account_pk = MastodonAccount.objects.filter(inbox_id=message.inbox_id).values_list("pk", flat=True).first()
    if account_pk is None:
        raise PermanentSendError("mastodon_no_account", "the inbox has no Mastodon account configured")
    details = (message.meta or {}).get("mastodon") or {}
    files = []
    if (message.meta or {}).get("attachments"):
        for attachment in message.attachments.exclude(file="").order_by("id"):
            with attachment.file.open("rb") as handle:
                name = attachment.filename or f"attachment-{attachment.pk}"
                files.append((name, handle.read(), attachment.content_type or "application/octet-stream"))
    spec = {
        "account": account_pk,
        "visibility": details.get("visibility") or PRIVATE,
        "in_reply_to_id": details.get("in_reply_to_id") or "",
        "files": files,
    }
    return dataclasses.replace(outbound, options={**outbound.options, "mastodon": spec})


def _fetch_media(url: str) -> tuple[bytes, str]:
    return MastodonGateway().fetch_media(url)


MB = 1024 * 1024

# Mastodon's defaults (configuration.media_attachments): 4 files a status, images up to 16 MB,
# video and audio up to 99 MB.
LIMITS = registry.FileLimits(
    name="Mastodon",
    max_files=4,
    max_total_bytes=4 * 99 * MB,
    types={
        **dict.fromkeys(["image/jpeg", "image/png", "image/gif", "image/webp"], 16 * MB),
        **dict.fromkeys(["video/mp4", "video/webm", "audio/mpeg", "audio/ogg", "audio/wav"], 99 * MB),
    },
)


def mastodon_register() -> None:
    registry.register_inbound(JOURNAL_CHANNEL, parser=MastodonGateway, receiver=receiver_each_together(mastodon_store))
    registry.register_sender(
        KIND,
        gateway=MastodonGateway,
        build=mastodon_outbound_build,
        carries_files=True,
        limits=LIMITS,
        check=mastodon_reply_check,
    )
    registry.register_media_fetcher(KIND, _fetch_media)
    registry.register_sweep("mastodon-backfill", backfill_all)
