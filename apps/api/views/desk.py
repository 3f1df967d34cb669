"""The desk around the conversations: labels, canned responses, agents and presence, teams, inboxes."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import Agent, Team
from apps.accounts.permissions import inboxes_visible
from apps.api import selectors
from apps.api.serializers import (
    AgentSerializer,
    CannedResponseSerializer,
    CannedResponseUpdateSerializer,
    InboxSerializer,
    LabelSerializer,
    PresenceSerializer,
    TeamSerializer,
)
from apps.api.views.base import BaseAPIView, _agent, _page
from apps.assignment.services import presence_set
from apps.conversations.services import (
    canned_response_create,
    canned_response_delete,
    canned_response_update,
)


class LabelListView(BaseAPIView):
    @extend_schema(operation_id="labels_list", responses=_page("LabelPage", LabelSerializer))
    def get(self, request: Request) -> Response:
        return Response({"results": LabelSerializer(selectors.label_list(), many=True).data})


class CannedResponseListView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="matches the shortcut (prefix or part) or the title")],
        operation_id="canned_responses_list",
        responses=_page("CannedResponsePage", CannedResponseSerializer),
    )
    def get(self, request: Request) -> Response:
        rows = selectors.canned_response_list(q=request.query_params.get("q"))
        return Response({"results": CannedResponseSerializer(rows, many=True).data})

    @extend_schema(request=CannedResponseSerializer, responses={201: CannedResponseSerializer})
    def post(self, request: Request) -> Response:
        form = CannedResponseUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        canned = canned_response_create(
            by=_agent(request),
            shortcut=data.get("shortcut", ""),
            title=data.get("title", ""),
            text=data.get("text", ""),
        )
        return Response(CannedResponseSerializer(canned).data, status=http.HTTP_201_CREATED)


class CannedResponseDetailView(BaseAPIView):
    @extend_schema(request=CannedResponseUpdateSerializer, responses=CannedResponseSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        form = CannedResponseUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        canned = canned_response_update(canned_id=pk, **form.validated_data)
        return Response(CannedResponseSerializer(canned).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        canned_response_delete(canned_id=pk)
        return Response(status=http.HTTP_204_NO_CONTENT)


class AgentListView(BaseAPIView):
    @extend_schema(operation_id="agents_list", responses=_page("AgentPage", AgentSerializer))
    def get(self, request: Request) -> Response:
        agents = Agent.objects.filter(is_active=True).select_related("presence").order_by("id")
        return Response({"results": AgentSerializer(agents, many=True).data})


class PresenceView(BaseAPIView):
    @extend_schema(request=PresenceSerializer, responses=PresenceSerializer)
    def put(self, request: Request) -> Response:
        form = PresenceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        presence = presence_set(agent_id=_agent(request).pk, status=form.validated_data["status"])
        return Response({"status": presence.status})


class TeamListView(BaseAPIView):
    @extend_schema(operation_id="teams_list", responses=_page("TeamPage", TeamSerializer))
    def get(self, request: Request) -> Response:
        return Response(
            {"results": TeamSerializer(Team.objects.prefetch_related("members").order_by("id"), many=True).data}
        )


class InboxListView(BaseAPIView):
    @extend_schema(operation_id="inboxes_list", responses=_page("InboxPage", InboxSerializer))
    def get(self, request: Request) -> Response:
        inboxes = inboxes_visible(_agent(request)).order_by("id")
        return Response({"results": InboxSerializer(inboxes, many=True).data})
