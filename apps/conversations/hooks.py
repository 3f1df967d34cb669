"""Hooks apps above conversations register at ready() (STYLE.md, Layers: calls go down, behaviour
comes up only through registration).

- inbound claims: a message that would open a new conversation (its contact has none open in
  the inbox) may be claimed by a resolved conversation instead — the satisfaction survey's
  answer ("4") is stored in the conversation it rates, never reopening it nor opening a new
  one. A claim returns that conversation (locked) or None, and records what it means itself.
  `replying_to` is the resolved conversation the message threads into by itself (email), if
  any: a claim may then only return that one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from apps.accounts.models import Inbox
from apps.contacts.models import Identity
from apps.conversations.models import Conversation
from apps.gateways.base import InboundMessage

InboundClaim = Callable[..., Conversation | None]
_claims: list[InboundClaim] = []


def register_inbound_claim(claim: InboundClaim) -> None:
    if claim not in _claims:
        _claims.append(claim)


def inbound_claim(
    *,
    inbox: Inbox,
    identity: Identity,
    inbound: InboundMessage,
    now: dt.datetime,
    replying_to: Conversation | None = None,
) -> Conversation | None:
    for claim in _claims:
        conversation = claim(inbox=inbox, identity=identity, inbound=inbound, now=now, replying_to=replying_to)
        if conversation is not None:
            return conversation
    return None
