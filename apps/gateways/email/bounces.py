"""Bounces (protocols.md §4.4): which of our mails could not be delivered, to whom, and why.

RFC 3464 reports (`multipart/report; report-type=delivery-status`) are read with the standard
library, which hands the `message/delivery-status` part over as one header block per recipient.
The common non-RFC bounces (qmail, Exim, old Exchange and appliances) are recognised by their
sender and wording, and read by heuristics. The original Message-IDs come from the returned
message or its headers, so the router can find the outbound message that failed.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses
from typing import Any

REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
RETURNED_HEADERS = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
RETURNED_MESSAGES = ("message/rfc822", "message/global")

BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|delivery status notification|delivery (has )?fail|"
    r"failure notice|mail delivery (failed|failure|system)|message not delivered|could not be delivered|"
    r"delivery failure|non[- ]?delivery|nicht zustellbar|unzustellbar|non remis|no entregado",
    re.I,
)
BOUNCE_BODY = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't able to deliver|was not delivered|"
    r"delivery (to the following recipients? )?(has )?failed|permanent (fatal )?error|undeliverable|"
    r"user unknown|mailbox (is )?(unavailable|full)|no such user|address rejected|does not exist",
    re.I,
)
# Where the returned copy of the original starts in a plain-text bounce.
ORIGINAL_MARKER = re.compile(
    r"^(-+ ?below this line is a copy of the message|-+ ?this is a copy of the message|"
    r"-+ ?original message|-+ ?the header of the original message|"
    r"original message (headers )?follows|-+ ?returned message|\s*-+ ?undelivered message)",
    re.I | re.M,
)
ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
SMTP_CODE = re.compile(r"\b([245])\d\d\b")
MESSAGE_ID_LINE = re.compile(r"^message-id:\s*<?([^>\s]+@[^>\s]+)>?", re.I | re.M)
ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Our own Message-IDs (apps.mail's scheme), wherever a loose bounce quotes them.
OUR_MESSAGE_ID = re.compile(r"<?(sd-[\w.-]+@[\w.-]+)>?")
QMAIL_RECIPIENT = re.compile(r"^<([^>\s]+@[^>\s]+)>:\s*$")
INDENTED_ADDRESS = re.compile(r"^\s+<?([^>\s]+@[^>\s:]+)>?:?\s*$")


def _strip_type(value: str) -> str:
    """`rfc822; jane@example.com` -> `jane@example.com`; `smtp; 550 …` -> `550 …`."""
    value = " ".join(str(value or "").split())
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _message_ids_of(headers: Message) -> list[str]:
    value = str(headers.get("Message-ID", "") or "")
    return [m.strip() for m in re.findall(r"<([^<>\s]+)>", value)] or ([value.strip()] if "@" in value else [])


def _returned_ids(msg: EmailMessage) -> list[str]:
    ids: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in RETURNED_MESSAGES:
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                ids += _message_ids_of(inner)
        elif ctype in RETURNED_HEADERS:
            text = _payload_bytes(part).decode("utf-8", "replace")
            ids += _message_ids_of(HeaderParser().parsestr(text))
    return list(dict.fromkeys(ids))


def _status_of(diagnostic: str) -> str:
    enhanced = ENHANCED_STATUS.search(diagnostic)
    if enhanced:
        return enhanced.group(1)
    code = SMTP_CODE.search(diagnostic)
    return f"{code.group(1)}.0.0" if code else "5.0.0"


def _action_of(status: str) -> str:
    return "delayed" if status.startswith("4") else "failed"


def _dsn_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = _payload_bytes(part).decode("utf-8", "replace")
    return [HeaderParser().parsestr(chunk) for chunk in re.split(r"\r?\n\s*\r?\n", text)]


def parse_dsn(msg: EmailMessage) -> dict[str, Any] | None:
    if msg.get_content_type() != "multipart/report":
        return None
    if str(msg.get_param("report-type", "") or "").lower() != "delivery-status":
        return None
    recipients: list[dict[str, str]] = []
    for part in msg.walk():
        if part.get_content_type() not in REPORT_TYPES:
            continue
        for block in _dsn_blocks(part)[1:]:
            address = _strip_type(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            if not address:
                continue
            status = _strip_type(block.get("Status", "")) or "5.0.0"
            recipients.append(
                {
                    "address": address.strip("<>").lower(),
                    "action": _strip_type(block.get("Action", "")).lower() or _action_of(status),
                    "status": status,
                    "diagnostic": _strip_type(block.get("Diagnostic-Code", "")),
                }
            )
    return {"kind": "dsn", "original_message_ids": _returned_ids(msg), "recipients": recipients}


def _heuristic_recipients(report: str, failed_header: list[str]) -> list[dict[str, str]]:
    found: dict[str, list[str]] = {}
    lines = report.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        match = QMAIL_RECIPIENT.match(line) or INDENTED_ADDRESS.match(line)
        if match:
            address = match.group(1).lower()
            diagnostic: list[str] = []
            index += 1
            while index < len(lines) and lines[index].strip() and not QMAIL_RECIPIENT.match(lines[index]):
                if INDENTED_ADDRESS.match(lines[index]) and not diagnostic:
                    break
                diagnostic.append(lines[index].strip())
                index += 1
            found.setdefault(address, []).extend(diagnostic)
            continue
        index += 1
    for address in failed_header:
        found.setdefault(address.lower(), [])
    if not found:
        # Last resort: the addresses named in the report next to an SMTP error.
        for line in lines:
            if SMTP_CODE.search(line) or ENHANCED_STATUS.search(line):
                for address in ADDRESS.findall(line):
                    found.setdefault(address.lower(), []).append(line.strip())
    recipients: list[dict[str, str]] = []
    for address, diagnostic_lines in found.items():
        diagnostic_text = " ".join(diagnostic_lines)[:1000]
        status = _status_of(diagnostic_text or report)
        recipients.append(
            {"address": address, "action": _action_of(status), "status": status, "diagnostic": diagnostic_text}
        )
    return recipients


def parse_heuristic_bounce(
    msg: EmailMessage, *, subject: str, from_address: str, envelope_sender: str | None, text: str
) -> dict[str, Any] | None:
    """A non-RFC bounce: from a mail system, saying so, about our mail."""
    local = from_address.rsplit("@", 1)[0].lower()
    machine = local in ("mailer-daemon", "postmaster") or (
        envelope_sender is not None and not envelope_sender.strip("<>")
    )
    if not (machine and (BOUNCE_SUBJECT.search(subject) or BOUNCE_BODY.search(text))):
        return None
    marker = ORIGINAL_MARKER.search(text)
    report, returned = (text[: marker.start()], text[marker.start() :]) if marker else (text, "")
    failed_header = [addr for _, addr in getaddresses([str(v) for v in msg.get_all("X-Failed-Recipients", [])]) if addr]
    ids = _returned_ids(msg) or MESSAGE_ID_LINE.findall(returned)
    ids = list(dict.fromkeys([*ids, *OUR_MESSAGE_ID.findall(text)]))
    return {
        "kind": "heuristic",
        "original_message_ids": ids,
        "recipients": _heuristic_recipients(report, failed_header),
    }
