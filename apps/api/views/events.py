"""The event log over REST: what a client missed, for one without a socket."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import error_response
from apps.api.renderers import FAST_RENDERERS
from apps.api.serializers import (
    EventPageSerializer,
)
from apps.api.views.base import BaseAPIView, _agent, _int_param
from apps.console.selectors import agent_inbox_ids, events_after


class EventListView(BaseAPIView):
    renderer_classes = FAST_RENDERERS

    @extend_schema(
        parameters=[OpenApiParameter("since", int, required=True), OpenApiParameter("limit", int)],
        operation_id="events_list",
        responses=EventPageSerializer,
    )
    def get(self, request: Request) -> Response:

        since = _int_param(request, "since")
        if since is None or since < 0:
            return error_response("invalid_since", "`since` (an event id) is required", 400)
        limit = min(max(_int_param(request, "limit") or 500, 1), settings.EVENT_REPLAY_LIMIT)
        replay = events_after(
            agent_id=_agent(request).pk,
            inbox_ids=agent_inbox_ids(agent_id=_agent(request).pk),
            since=since,
            limit=limit,
        )
        # last_event_id is the position to ask from next: every visible event up to it is in
        # this answer (or in earlier ones).
        return Response(
            {
                "events": replay.frames,
                "last_event_id": replay.upto,
                "more": replay.more,
                "resync_required": replay.gone,
            }
        )
