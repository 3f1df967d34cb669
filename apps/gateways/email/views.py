"""`POST /webhooks/email/inbound`: a raw mail (message/rfc822) from an MTA or a provider that
forwards raw MIME. Verify, journal, answer; nothing else happens before the answer."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.gateways.email.gateway import EmailGateway
from apps.gateways.email.intake import email_accept, envelope_of

log = logging.getLogger(__name__)

# Bodies that are not a raw mail but a provider's parsed form: refused, so the sender notices.
NOT_RAW = ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` (read in chunks: no Content-Length is trusted,
    and Django's DATA_UPLOAD_MAX_MEMORY_SIZE is for forms, not for mail)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = request.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> JsonResponse:
    if not EmailGateway().verify(request):
        log.warning(
            "email webhook refused: %s (from %s)",
            "EMAIL_WEBHOOK_SECRET is not set" if not settings.EMAIL_WEBHOOK_SECRET else "bad or missing secret",
            request.META.get("REMOTE_ADDR"),
        )
        return _error(403, "forbidden", "Bad or missing webhook secret.")
    content_type = (request.content_type or "").lower()
    if content_type in NOT_RAW:
        return _error(415, "unsupported_media_type", "Post the raw mail as message/rfc822.")
    limit = settings.EMAIL_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    raw = None if declared > limit else _read_body(request, limit)
    if raw is None:
        return _error(413, "too_large", f"The mail is larger than {limit} bytes.")
    if not raw.strip():
        return _error(400, "empty", "The body holds no mail.")
    envelope = envelope_of(
        transport="webhook",
        mail_from=request.headers.get("X-Envelope-From"),
        rcpt_tos=[r for value in request.headers.get("X-Envelope-To", "").split(",") for r in [value.strip()] if r],
        peer=request.META.get("REMOTE_ADDR", ""),
    )
    entry, created = email_accept(raw=raw, envelope=envelope)
    return JsonResponse({"status": "accepted" if created else "duplicate", "id": entry.pk if entry else None})
