"""Canned responses: named texts an agent inserts with `/shortcut`."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.accounts.models import Agent
from apps.conversations.models import CannedResponse
from apps.core.errors import Conflict, InvalidInput, NotFound

CANNED_SHORTCUT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def _canned_validate(*, shortcut: str, title: str, text: str) -> tuple[str, str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not CANNED_SHORTCUT_RE.match(shortcut):
        raise InvalidInput(
            "a shortcut is 1 to 50 lower-case letters, digits, - or _, starting with a letter or digit",
            code="invalid_shortcut",
        )
    title = title.strip()
    if not title or len(title) > 120:
        raise InvalidInput("a title is 1 to 120 characters", code="invalid_title")
    if not text.strip() or len(text) > settings.MESSAGE_MAX_CHARS:
        raise InvalidInput(f"the text must be 1 to {settings.MESSAGE_MAX_CHARS} characters", code="invalid_text")
    return shortcut, title, text


def _canned_save(canned: CannedResponse) -> CannedResponse:
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise Conflict(f"the shortcut /{canned.shortcut} is already used", code="shortcut_taken") from None
    return canned


def canned_response_create(*, by: Agent, shortcut: str, title: str, text: str) -> CannedResponse:
    shortcut, title, text = _canned_validate(shortcut=shortcut, title=title, text=text)
    return _canned_save(CannedResponse(shortcut=shortcut, title=title, text=text, created_by=by))


def canned_response_update(
    *, canned_id: int, shortcut: str | None = None, title: str | None = None, text: str | None = None
) -> CannedResponse:
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise NotFound("no such canned response")
    canned.shortcut, canned.title, canned.text = _canned_validate(
        shortcut=canned.shortcut if shortcut is None else shortcut,
        title=canned.title if title is None else title,
        text=canned.text if text is None else text,
    )
    return _canned_save(canned)


def canned_response_delete(*, canned_id: int) -> None:
    deleted, _ = CannedResponse.objects.filter(pk=canned_id).delete()
    if not deleted:
        raise NotFound("no such canned response")
