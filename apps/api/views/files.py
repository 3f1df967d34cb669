"""Attachments: the bytes of a stored file, for the agents who may see it."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request

from apps.accounts.permissions import inbox_scope
from apps.api.views.base import BaseAPIView, _agent
from apps.conversations.models import Attachment


class AttachmentDownloadView(BaseAPIView):
    """An attachment's bytes, for agents of the conversation's inbox only.

    Files are never served from a public media URL: their paths are guessable.
    """

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: int) -> FileResponse:

        attachment = get_object_or_404(
            Attachment.objects.filter(inbox_scope(_agent(request), field="message__conversation__inbox")).exclude(
                file=""
            ),
            pk=pk,
        )
        response = FileResponse(
            attachment.file.open("rb"),
            content_type=attachment.content_type or "application/octet-stream",
            as_attachment=not attachment.content_type.startswith("image/"),
            filename=attachment.filename or f"attachment-{attachment.pk}",
        )
        # Never let a browser sniff an uploaded file into HTML or script.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
