"""Phone numbers to E.164 (phonenumbers), and channel-prefixed addresses such as whatsapp:+1…."""

from __future__ import annotations

import phonenumbers
from django.conf import settings

CHANNEL_PREFIXES = ("whatsapp", "messenger", "rcs")


class InvalidPhoneNumber(ValueError):
    pass


def split_channel_address(value: str) -> tuple[str, str]:
    """'whatsapp:+1415…' -> ('whatsapp', '+1415…'); '+1415…' -> ('phone', '+1415…')."""
    value = (value or "").strip()
    prefix, sep, rest = value.partition(":")
    if sep and prefix.lower() in CHANNEL_PREFIXES:
        return prefix.lower(), rest.strip()
    return "phone", value


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 for a number however it was written; short codes stay as their digits."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidPhoneNumber("empty phone number")
    region = region or settings.DEFAULT_PHONE_REGION
    digits = "".join(ch for ch in raw if ch.isdigit())
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}") from exc
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not raw.startswith("+") and 3 <= len(digits) <= 8:
        short = phonenumbers.parse(digits, region)
        if phonenumbers.is_valid_short_number_for_region(short, region):
            return digits
    if phonenumbers.is_possible_number(number):
        # Possible but not assigned in the metadata (test ranges, new ranges): keep it in E.164
        # rather than refuse a customer we cannot classify.
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
