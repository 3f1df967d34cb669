"""The new text of a reply: quoted history, attribution lines, signatures and "Sent from my
iPhone" stripped.

Two passes. First our own, for what a library keyed on English and Western phrases misses:
blocks of `>`-quoted lines go, with the attribution line(s) just above them when those end in a
colon and carry a date or an address (`02.04.2012 14:20 … <bob@example.com> написал:`) — so a
reply written below the quote (bottom-posting) keeps its text. Then `mail-parser-reply`
(multi-language headers such as "On … wrote:", "-----Original Message-----", Outlook's
"From:/Sent:" block, signatures, "Sent from my …") cuts at the first earlier message and drops
the signature. Stripping is lossy: the full text is always kept beside it.
"""

from __future__ import annotations

import logging
import re

from mailparser_reply import EmailReplyParser

log = logging.getLogger(__name__)

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs", "ja", "ko", "zh"]
_QUOTED = re.compile(r"^\s*>")
_DATE_OR_ADDRESS = re.compile(r"@|\d{1,4}[./:-]\d{1,2}")
_SIGNATURE_DASHES = re.compile(r"^-- ?$")
_MOBILE_FOOTER = re.compile(
    r"^(sent from my \w+( \w+){0,3}|sent from (outlook|mail|yahoo mail|gmail)\b.*|get outlook for \w+.*|"
    r"envoyé de mon \w+.*|von meinem \w+ gesendet.*|enviado desde mi \w+.*|inviato da(l mio)? \w+.*)$",
    re.I,
)
_PARSER = EmailReplyParser(languages=LANGUAGES)


def _is_wrapped(line: str) -> bool:
    stripped = line.strip()
    return (
        bool(stripped)
        and (stripped.endswith(("<", ",", '"')) or len(stripped) >= 60)
        and not stripped.endswith((".", "!", "?", ":"))
    )


def _drop_quoted_blocks(lines: list[str]) -> list[str]:
    """Remove `>` lines and the attribution lines introducing them."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        if not _QUOTED.match(lines[index]):
            out.append(lines[index])
            index += 1
            continue
        # An attribution: the line just above the quote (blank lines between allowed), ending in
        # ":" and mentioning a date, a time or an address — with the lines above it that it was
        # wrapped from (they end inside an address or a list, or fill a whole line).
        while out and not out[-1].strip():
            out.pop()
        if out and out[-1].rstrip().endswith(":"):
            start = len(out) - 1
            while start > 0 and len(out) - start < 3 and _is_wrapped(out[start - 1]):
                start -= 1
            if _DATE_OR_ADDRESS.search(" ".join(out[start:])):
                del out[start:]
        while index < len(lines) and (_QUOTED.match(lines[index]) or not lines[index].strip()):
            index += 1
        out.append("")
    return out


def _drop_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE_DASHES.match(line.rstrip("\r")) and index > 0:
            return lines[:index]
    while lines and (not lines[-1].strip() or _MOBILE_FOOTER.match(lines[-1].strip())):
        lines = lines[:-1]
    return lines


def new_text(text: str) -> str:
    """The new part of a reply; the full text when stripping would leave nothing."""
    full = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _drop_signature(_drop_quoted_blocks(full.split("\n")))
    candidate = "\n".join(lines).strip()
    if candidate:
        try:
            message = _PARSER.read(candidate)
            reply = message.replies[0].body if message.replies else candidate
        except Exception:  # noqa: BLE001 - a regex library on arbitrary input: never lose the mail over it
            log.exception("reply parsing failed; keeping the text without quotes")
            reply = candidate
        candidate = "\n".join(_drop_signature(reply.split("\n"))).strip()
    return candidate or full.strip()
