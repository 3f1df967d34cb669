"""Is a file what it claims to be? The first bytes of the types we accept from people (widget
visitors, agents), checked before a file is stored or handed to a provider: a browser's claimed
type is only a claim, and a provider (Twilio) refuses media whose bytes and type disagree."""

from __future__ import annotations

# What a file of each type starts with (any one of the prefixes).
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
    "audio/ogg": (b"OggS",),
    "video/ogg": (b"OggS",),
    "audio/amr": (b"#!AMR\n",),
    "audio/webm": (b"\x1a\x45\xdf\xa3",),  # EBML (Matroska/WebM): what browsers record
    "video/webm": (b"\x1a\x45\xdf\xa3",),
    "audio/flac": (b"fLaC",),
}
# ISO base media files (MP4, M4A, 3GP, QuickTime): a box size, then "ftyp" at byte 4.
_ISO_BMFF = {"audio/mp4", "audio/x-m4a", "audio/m4a", "video/mp4", "video/3gpp", "audio/3gpp", "video/quicktime"}


def _is_mpeg_audio(data: bytes) -> bool:
    """MP3 (an ID3 tag, or an MPEG frame sync) or ADTS AAC (also a frame sync)."""
    return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def content_matches(content_type: str, data: bytes) -> bool:
    """Whether `data` looks like `content_type`. Types without a known signature pass."""
    content_type = content_type.split(";")[0].strip().lower()
    if content_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if content_type in ("audio/wav", "audio/x-wav", "audio/wave"):
        return data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    if content_type in ("audio/mpeg", "audio/mp3", "audio/aac"):
        return _is_mpeg_audio(data)
    if content_type in _ISO_BMFF:
        return data[4:8] == b"ftyp" or (content_type == "video/quicktime" and data[4:8] in (b"moov", b"mdat", b"wide"))
    if content_type == "text/plain":
        if b"\x00" in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    magic = _MAGIC.get(content_type)
    return True if magic is None else data.startswith(magic)


# What an agent may send as a file on a chat network that takes any document (Telegram, XMPP):
# the everyday types, each channel with its own size limits (apps.bus.registry.FileLimits).
CHAT_FILE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "audio/mpeg",
    "audio/ogg",
    "audio/mp4",
    "audio/webm",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "application/octet-stream",
)
