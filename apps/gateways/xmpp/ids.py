"""Ids of the desk's outgoing stanzas.

A reply's stanza `id` and its `origin-id` (XEP-0359) are one value made from the message id:
the same on every attempt, so a receipt (XEP-0184, which answers with the `id`) and the
server archive (which keeps both) name the message whichever attempt reached them. A keyed
hash makes it unguessable: a customer cannot mark another customer's reply delivered.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

PREFIX = "sd"


def _tag(message_id: int, part: int) -> str:
    key = hashlib.sha256(b"supportdesk-xmpp-stanza-id:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, f"{message_id}.{part}".encode(), hashlib.sha256).hexdigest()[:16]


def stanza_id(message_id: int, part: int = 0) -> str:
    """The id of part `part` of a reply (0: its text; 1, 2, …: each file it carries)."""
    return f"{PREFIX}-{message_id}-{part}-{_tag(message_id, part)}"


def message_of(stanza_id_: str) -> tuple[int, int] | None:
    """(message id, part) of one of our ids; None for anything we did not make."""
    pieces = stanza_id_.split("-")
    if len(pieces) != 4 or pieces[0] != PREFIX or not pieces[1].isdigit() or not pieces[2].isdigit():
        return None
    message_id, part = int(pieces[1]), int(pieces[2])
    if not hmac.compare_digest(pieces[3], _tag(message_id, part)):
        return None
    return message_id, part
