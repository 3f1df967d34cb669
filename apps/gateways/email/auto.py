"""Automatic mail (protocols.md §4.3): why a mail was written by a machine, not a person.

The reasons are strings like `"auto-submitted: auto-replied"`; an empty list means a person.
The router uses them to never acknowledge such mail and never let it reopen a conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Sender local parts that are machines (RFC 3834 §2).
MACHINE_SENDERS = ("mailer-daemon", "postmaster")

Headers = Mapping[str, Sequence[str]]  # lower-cased name -> decoded values, in order


def _value(headers: Headers, name: str) -> str:
    values = headers.get(name.lower()) or [""]
    return " ".join(values[0].split()).strip().lower()


def automatic_reasons(headers: Headers, *, envelope_sender: str | None, from_address: str) -> list[str]:
    """`envelope_sender` is the SMTP MAIL FROM (or the Return-Path a mailbox recorded): "" for the
    null sender `<>`, None when the intake does not know it."""
    reasons: list[str] = []
    auto_submitted = _value(headers, "Auto-Submitted").split(";")[0].strip()
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"auto-submitted: {auto_submitted}")
    autoreply = _value(headers, "X-Autoreply")
    if "x-autoreply" in headers and autoreply not in ("no", "false", "0"):
        reasons.append(f"x-autoreply: {autoreply}" if autoreply else "x-autoreply")
    if "x-autorespond" in headers:
        reasons.append("x-autorespond")
    precedence = _value(headers, "Precedence")
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        reasons.append(f"precedence: {precedence}")
    suppress = _value(headers, "X-Auto-Response-Suppress")
    if suppress and suppress != "none":
        reasons.append(f"x-auto-response-suppress: {suppress}")
    if "x-loop" in headers:
        reasons.append("x-loop")
    if "list-id" in headers:
        reasons.append("list-id")
    if "list-unsubscribe" in headers:
        reasons.append("list-unsubscribe")
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        reasons.append("null sender")
    for address, where in ((envelope_sender or "", "envelope sender"), (from_address, "from")):
        local = address.strip("<> ").rsplit("@", 1)[0].lower()
        if local in MACHINE_SENDERS:
            reasons.append(f"{where}: {local}")
        elif local.startswith("owner-") or local.endswith("-request"):
            reasons.append(f"{where}: list address")
    return list(dict.fromkeys(reasons))
