"""The new text of a reply: quoted history, attribution lines, signatures and "Sent from my
iPhone" stripped.

Three passes. First our own, for what a library keyed on English and Western phrases misses:
blocks of `>`-quoted lines go, with the attribution line(s) just above them when those end in a
colon and carry a date or an address (`02.04.2012 14:20 … <bob@example.com> написал:`) — so a
reply written below the quote (bottom-posting) keeps its text. Then `mail-parser-reply`
(multi-language headers such as "On … wrote:", "-----Original Message-----", Outlook's
"From:/Sent:" block) cuts at the first earlier message. Its signature and disclaimer removal is
not used: it cuts everything after "Thanks," or a line starting with "-", which drops a request
written after the sign-off ("Thanks,\nJane\n\nPS: …") or a customer's bulleted list. Last, our
signature pass: a sign-off line ("Thanks,", "Best regards", "-- ", "-Jane") goes with what
follows it only when all of that reads as a signature block (a few short lines: name, title,
company, phone, address, links, "Sent from my …"); a PS, a question, a "please" or a sentence
after it keeps the whole text. Stripping is lossy: the full text is always kept beside it.
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
# A sign-off line: the closing phrase, optionally with a name after it ("Thanks, Jane").
_SIGN_OFF = re.compile(
    r"^(thanks( again| so much| a lot| in advance)?|thank you( (so|very) much)?|many thanks|cheers|best|"
    r"(best|kind|warm|warmest|many|with kind) regards|regards|sincerely|yours( truly| sincerely)?|"
    r"all the best|take care|br|mfg|"
    r"(mit )?(freundlichen|besten|viele|liebe) grüß?(e|ssen)|(viele )?grüße|gruß|danke( schön)?|"
    r"cordialement|bien à vous|merci( beaucoup)?|bonne journée|"
    r"saludos( cordiales)?|un saludo|atentamente|gracias|"
    r"cordiali saluti|distinti saluti|grazie|"
    r"met vriendelijke groet(en)?|groeten|bedankt|"
    r"med vänliga hälsningar|hälsningar|tack|med venlig hilsen|venlig hilsen|"
    r"pozdrawiam|z poważaniem|s pozdravem|děkuji)"
    r"[,.!]*( +[^\s,.!?:;][^?:;]*)?$",
    re.I,
)
_DASH_NAME = re.compile(r"^[-–—] ?[A-Z][\w.'-]*( [A-Z][\w.'-]*)?$")  # "-Jane", "— J. Doe"
_POSTSCRIPT = re.compile(r"^p\.? ?p?\.? ?s\.?\b|^ps\b|^nb\b|^n\.b\.", re.I)
_PLEASE = re.compile(r"\b(please|pls|plz|bitte|por favor|s'il vous plaît|per favore|alstublieft)\b", re.I)
_CONTACT = re.compile(r"@|https?://|www\.|\+?\d[\d ()./-]{6,}\d")
_SEPARATOR = re.compile(r"^\s*[_=*~-]{10,}\s*$")
_SIGNATURE_MAX_LINES = 8
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


def _is_sign_off(line: str) -> bool:
    stripped = line.strip()
    return bool(
        _SIGNATURE_DASHES.match(line.rstrip("\r"))
        or (len(stripped) <= 40 and _SIGN_OFF.match(stripped))
        or _DASH_NAME.match(stripped)
    )


def _is_signature_line(line: str) -> bool:
    """A line of a signature block: short furniture (a name, a title, a company, a phone number,
    an address, a link, a mobile footer), never something the customer asks or says."""
    stripped = line.strip()
    if not stripped or _MOBILE_FOOTER.match(stripped) or _SEPARATOR.match(stripped):
        return True
    if _POSTSCRIPT.match(stripped) or "?" in stripped or _PLEASE.search(stripped) or stripped.endswith(":"):
        return False
    words = stripped.split()
    if len(words) >= 3 and stripped.endswith((".", "!")):
        return False  # a sentence
    return len(stripped) <= 80 and (len(words) <= 8 or bool(_CONTACT.search(stripped)))


def _drop_signature(lines: list[str]) -> list[str]:
    """Cut a trailing signature block, and trailing mobile footers and separator lines."""
    for index, line in enumerate(lines):
        if index == 0 or not _is_sign_off(line) or not any(x.strip() for x in lines[:index]):
            continue  # "Thanks," opening a mail is not a sign-off
        tail = [x for x in lines[index + 1 :] if x.strip()]
        if len(tail) <= _SIGNATURE_MAX_LINES and all(_is_signature_line(x) for x in tail):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or _MOBILE_FOOTER.match(lines[-1].strip()) or _SEPARATOR.match(lines[-1])):
        lines = lines[:-1]
    return lines


def new_text(text: str) -> str:
    """The new part of a reply; the full text when stripping would leave nothing."""
    full = text.replace("\r\n", "\n").replace("\r", "\n")
    candidate = "\n".join(_drop_quoted_blocks(full.split("\n"))).strip()
    if candidate:
        try:
            message = _PARSER.read(candidate)
            # The newest reply up to the first earlier message, signature and all (see above).
            reply = message.replies[0].full_body if message.replies else candidate
        except Exception:  # noqa: BLE001 - a regex library on arbitrary input: never lose the mail over it
            log.exception("reply parsing failed; keeping the text without quotes")
            reply = candidate
        candidate = "\n".join(_drop_signature(reply.split("\n"))).strip()
    return candidate or full.strip()
