"""GET /files/<signed token>/<name>: a file an agent attached, for the provider that sends it.

Providers (Twilio's MediaUrl) fetch media from a URL without our credentials, so the link
itself is the permission: signed (Django signing), expiring (MEDIA_LINK_SECONDS), for one
stored file. A forged, bent or expired link is refused with 403, a file gone with 404.
"""

from __future__ import annotations

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponseBase,
    HttpResponseForbidden,
    HttpResponseNotFound,
)
from django.views.decorators.http import require_safe

from apps.conversations.media import LinkRefused, attachment_for_link
from apps.conversations.models import Attachment


@require_safe
def provider_file(request: HttpRequest, token: str, name: str) -> HttpResponseBase:
    try:
        attachment = attachment_for_link(token=token, name=name)
    except LinkRefused as exc:
        return HttpResponseForbidden(str(exc), content_type="text/plain; charset=utf-8")
    except Attachment.DoesNotExist:
        return HttpResponseNotFound("no such file", content_type="text/plain; charset=utf-8")
    response = FileResponse(
        attachment.file.open("rb"),
        # The provider checks that the type matches the bytes (sniffed when the agent attached it).
        content_type=attachment.content_type or "application/octet-stream",
        as_attachment=False,
        filename=attachment.filename or f"file-{attachment.pk}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
