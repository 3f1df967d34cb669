"""Low-level MIME helpers: bytes in any declared (or wrong, or missing) charset to text, RFC 2047
headers, addresses and message ids. Standard library only (plus charset-normalizer as the last
guess for bytes whose charset is unknown)."""

from __future__ import annotations

import codecs
import re
from email.header import decode_header, make_header
from email.utils import getaddresses

# Declared charsets read as the superset mail clients actually write (WHATWG's mapping).
CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
}
UNDECLARED = {"", "unknown-8bit", "x-unknown", "unknown", "default", "charset", "x-user-defined", "8bit"}
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def _codec(charset: str | None) -> str | None:
    name = (charset or "").strip().strip('"').lower()
    if name in UNDECLARED:
        return None
    name = CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _guess(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of requests, pinned in requirements.txt
        return None
    best = from_bytes(data).best()
    return str(best) if best is not None else None


def decode_bytes(data: bytes, charset: str | None, *, guess: bool = True) -> str:
    """Text from bytes in the declared charset; when that is unknown or wrong: UTF-8, then a
    guess (bodies; a few header words are too short to guess from), then Windows-1252 with
    replacement characters. Never raises; never holds NUL."""
    text: str | None = None
    codec = _codec(charset)
    for candidate in (codec, "utf-8"):
        if candidate is None:
            continue
        try:
            text = data.decode(candidate)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None and codec == "cp1252":
        text = data.decode("latin-1")  # ISO-8859-1 proper: the five bytes cp1252 leaves undefined
    if text is None and guess:
        text = _guess(data)
    if text is None:
        text = data.decode("cp1252", "replace")
    return text.replace("\x00", "\ufffd")


def header_text(value: str) -> str:
    """A raw header value: 8-bit bytes recovered (the parser keeps them as surrogates), folding
    undone. Encoded words are left for `decode_words`."""
    value = str(value)
    if _SURROGATE.search(value):
        value = decode_bytes(value.encode("ascii", "surrogateescape"), "utf-8", guess=False)
    return _FOLD.sub("", value).replace("\x00", "\ufffd")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, whatever their charset claims."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - unknown charset or broken encoding: decode part by part
        pass
    try:
        chunks = decode_header(value)
    except Exception:  # noqa: BLE001
        return value
    return "".join(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset) for chunk, charset in chunks)


def decoded(value: str) -> str:
    return " ".join(decode_words(header_text(value)).split())


def addresses(values: list[str]) -> list[dict[str, str]]:
    """[{"address": lower-cased, "name": decoded}] of address headers, in order."""
    out: list[dict[str, str]] = []
    try:
        pairs = getaddresses([header_text(v) for v in values])
    except Exception:  # noqa: BLE001
        return out
    for name, address in pairs:
        address = address.strip().strip("<>")
        if "@" not in address:
            continue
        out.append({"address": address.lower(), "name": " ".join(decode_words(name).split()).strip('"')})
    return out


def message_ids(values: list[str]) -> list[str]:
    """Message ids without angle brackets, in header order (also when a client left them out)."""
    out: list[str] = []
    for value in values:
        text = header_text(value)
        found = _ANGLE_ID.findall(text)
        if not found:
            found = [token.strip("<>,;") for token in text.split() if "@" in token]
        out += [item for item in found if item]
    return list(dict.fromkeys(out))


def unflow(text: str, *, delsp: bool) -> str:
    """format=flowed (RFC 3676): soft line breaks joined, space-stuffing removed."""
    out: list[str] = []
    pending: tuple[int, str] | None = None
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if pending is not None and pending[0] == depth:
            pending = (depth, pending[1] + content)
        else:
            if pending is not None:
                out.append(">" * pending[0] + (" " if pending[0] else "") + pending[1])
            pending = (depth, content)
        if not flowed:
            out.append(">" * pending[0] + (" " if pending[0] else "") + pending[1])
            pending = None
    if pending is not None:
        out.append(">" * pending[0] + (" " if pending[0] else "") + pending[1])
    return "\n".join(out)
