"""REST API v1: thin views that parse input, call one service or selector, and serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Agent, Inbox, Team
from apps.api import selectors
from apps.api.errors import error_response
from apps.api.serializers import (
    AgentSerializer,
    ContactSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    EventSerializer,
    InboxSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    PresenceSerializer,
    TeamSerializer,
)
from apps.assignment.services import presence_set
from apps.bus.events import events_visible_since
from apps.conversations.models import Message
from apps.conversations.services import conversation_update, message_send

API_MAX_BODY = 256 * 1024


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        from apps.core.errors import InvalidInput

        raise InvalidInput(f"`{name}` must be a whole number", code=f"invalid_{name}") from None


class BaseAPIView(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or 0
        try:
            too_big = int(length) > API_MAX_BODY
        except ValueError:
            too_big = False
        if too_big:
            from apps.core.errors import InvalidInput

            raise InvalidInput(f"the request body is over {API_MAX_BODY} bytes", code="payload_too_large")
        super().initial(request, *args, **kwargs)


class ConversationListView(BaseAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str), OpenApiParameter("inbox", int),
            OpenApiParameter("assignee", str, description="me, none or an agent id"),
            OpenApiParameter("before", str, description="cursor from the previous page's `next`"),
            OpenApiParameter("limit", int),
        ],
        responses=ConversationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        before = None
        cursor = request.query_params.get("before")
        if cursor:
            at_text, _, pk_text = cursor.rpartition("_")
            at = parse_datetime(at_text)
            if at is None or not pk_text.isdigit():
                return error_response("invalid_cursor", "`before` is not a cursor this API gave", 400)
            before = (at, int(pk_text))
        limit = min(max(_int_param(request, "limit") or 50, 1), 200)
        rows = selectors.conversation_list(
            agent=request.user, status=request.query_params.get("status"),
            inbox_id=_int_param(request, "inbox"), assignee=request.query_params.get("assignee"),
            before=before, limit=limit,
        )
        next_cursor = f"{rows[-1].last_activity_at.isoformat()}_{rows[-1].pk}" if len(rows) == limit else None
        return Response({"results": ConversationSerializer(rows, many=True).data, "next": next_cursor})


class ConversationDetailView(BaseAPIView):
    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(selectors.conversations_visible(agent=request.user).select_related("contact"), pk=pk)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=request.user), pk=pk)
        form = ConversationUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        kwargs: dict[str, Any] = {}
        for field, key in (("assignee", "assignee_id"), ("team", "team_id")):
            if field in data:
                kwargs[key] = data[field]
        conversation = conversation_update(
            conversation_id=pk, by=request.user, status=data.get("status"), priority=data.get("priority"),
            snoozed_until=data.get("snoozed_until"), **kwargs,
        )
        conversation.refresh_from_db()
        return Response(ConversationSerializer(conversation).data)


class ConversationMessagesView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("after_seq", int), OpenApiParameter("limit", int)],
        responses=MessageSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(selectors.conversations_visible(agent=request.user), pk=pk)
        after = _int_param(request, "after_seq") or 0
        limit = min(max(_int_param(request, "limit") or 200, 1), 500)
        rows = list(
            Message.objects.filter(conversation=conversation, seq__gt=after)
            .prefetch_related("attachments").order_by("seq")[:limit]
        )
        return Response({"results": MessageSerializer(rows, many=True).data})

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer},
        description="Send a reply (or a private note). Repeating a request with the same "
        "`client_id` returns the first message with 200 instead of sending twice.",
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=request.user), pk=pk)
        form = MessageCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        message, created = message_send(
            conversation_id=pk, agent=request.user, body=data["body"], client_id=data.get("client_id"),
            identity_id=data.get("identity"), kind=data["kind"],
        )
        return Response(MessageSerializer(message).data, status=http.HTTP_201_CREATED if created else http.HTTP_200_OK)


class ContactDetailView(BaseAPIView):
    @extend_schema(responses=ContactSerializer)
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(selectors.contacts_visible(agent=request.user).prefetch_related("identities"), pk=pk)
        return Response(ContactSerializer(contact).data)


class ContactTimelineView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="id of the last message of the previous page"),
                    OpenApiParameter("limit", int)],
        responses=MessageSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(selectors.contacts_visible(agent=request.user), pk=pk)
        limit = min(max(_int_param(request, "limit") or 200, 1), 500)
        rows = selectors.contact_timeline(agent=request.user, contact_id=contact.pk, after=_int_param(request, "after"), limit=limit)
        return Response({
            "contact": contact.pk,
            "results": MessageSerializer(rows, many=True).data,
            "next": rows[-1].pk if len(rows) == limit else None,
        })


class AgentListView(BaseAPIView):
    @extend_schema(responses=AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        agents = Agent.objects.filter(is_active=True).select_related("presence").order_by("id")
        return Response({"results": AgentSerializer(agents, many=True).data})


class PresenceView(BaseAPIView):
    @extend_schema(request=PresenceSerializer, responses=PresenceSerializer)
    def put(self, request: Request) -> Response:
        form = PresenceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        presence = presence_set(agent_id=request.user.pk, status=form.validated_data["status"])
        return Response({"status": presence.status})


class TeamListView(BaseAPIView):
    @extend_schema(responses=TeamSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response({"results": TeamSerializer(Team.objects.prefetch_related("members").order_by("id"), many=True).data})


class InboxListView(BaseAPIView):
    @extend_schema(responses=InboxSerializer(many=True))
    def get(self, request: Request) -> Response:
        inboxes = Inbox.objects.filter(members=request.user).order_by("id")
        return Response({"results": InboxSerializer(inboxes, many=True).data})


class EventListView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("since", int, required=True), OpenApiParameter("limit", int)],
        responses=EventSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        from apps.console.selectors import agent_inbox_ids, newest_visible_event_id

        since = _int_param(request, "since")
        if since is None:
            return error_response("invalid_since", "`since` (an event id) is required", 400)
        limit = min(max(_int_param(request, "limit") or 500, 1), settings.EVENT_REPLAY_LIMIT)
        inbox_ids = agent_inbox_ids(agent_id=request.user.pk)
        rows = list(events_visible_since(agent_id=request.user.pk, inbox_ids=inbox_ids, since=since)[:limit])
        newest = rows[-1].id if rows else newest_visible_event_id(agent_id=request.user.pk, inbox_ids=inbox_ids)
        from apps.bus.models import Event

        oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
        resync = oldest is not None and since < oldest - 1
        return Response({
            "events": [] if resync else [e.as_frame() for e in rows],
            "last_event_id": newest,
            "more": len(rows) == limit,
            "resync_required": resync,
        })


