"""What every API view shares: the agent of a request, integer parameters, pages, the base view."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Agent
from apps.api import selectors
from apps.api.errors import error_response
from apps.api.items import conversation_items_data
from apps.core.errors import InvalidInput

API_MAX_BODY = 256 * 1024


def _agent(request: Request) -> Agent:
    """The authenticated agent (every view here requires authentication)."""
    return cast(Agent, request.user)


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"`{name}` must be a whole number", code=f"invalid_{name}") from None


def _page(
    name: str,
    item: type[serializers.Serializer],
    *,
    next_field: serializers.Field | None = None,
    previous_field: serializers.Field | None = None,
    contact: bool = False,
) -> Any:
    """The schema of a list answer: {"results": [...]} (+ "next", "previous", "contact")."""
    fields: dict[str, serializers.Field] = {"results": item(many=True)}
    if contact:
        fields["contact"] = serializers.IntegerField()
    if next_field is not None:
        fields["next"] = next_field
    if previous_field is not None:
        fields["previous"] = previous_field
    return inline_serializer(name, fields)


class BaseAPIView(APIView):
    def max_body(self, request: Request) -> int:
        return API_MAX_BODY

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or 0
        limit = self.max_body(request)
        try:
            too_big = int(length) > limit
        except ValueError:
            too_big = False
        if too_big:
            raise InvalidInput(f"the request body is over {limit} bytes", code="payload_too_large")
        super().initial(request, *args, **kwargs)


def _item(request: Request, pk: int) -> Response:
    row = selectors.conversation_item_row(agent=_agent(request), conversation_id=pk)
    if row is None:
        return error_response("not_found", "not found", 404)
    return Response(conversation_items_data([row])[0])
