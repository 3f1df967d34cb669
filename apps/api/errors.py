"""Every API error is JSON with a stable code: {"error": {"code": …, "message": …}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DomainError


def error_response(code: str, message: str, http_status: int, **extra: Any) -> Response:
    return Response({"error": {"code": code, "message": message, **extra}}, status=http_status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.status)
    if isinstance(exc, RequestDataTooBig):
        return error_response("payload_too_large", "the request body is too large", status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return error_response("not_found", "not found", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, exceptions.ValidationError):
        return error_response("invalid", "the request is not valid", status.HTTP_400_BAD_REQUEST, fields=exc.detail)
    if isinstance(exc, exceptions.APIException):
        response = drf_exception_handler(exc, context)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if response is not None:
            response.data = {"error": {"code": code, "message": detail}}
        return response
    return None
