"""REST API v1: thin views that parse input, call one service or selector, and serialize."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.conf import settings
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
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
    EventPageSerializer,
    InboxSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    PresenceSerializer,
    TeamSerializer,
)
from apps.assignment.services import presence_set
from apps.conversations.models import Message
from apps.conversations.services import conversation_update, message_send

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
        from apps.core.errors import InvalidInput

        raise InvalidInput(f"`{name}` must be a whole number", code=f"invalid_{name}") from None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _cursor(at: dt.datetime, pk: int) -> str:
    """A keyset cursor that is safe in a URL as it is: microseconds since the epoch, and the id."""
    return f"{(at - _EPOCH) // dt.timedelta(microseconds=1)}_{pk}"


def _cursor_parse(cursor: str) -> tuple[dt.datetime, int] | None:
    at_text, _, pk_text = cursor.rpartition("_")
    if not at_text.isdigit() or not pk_text.isdigit():
        return None
    try:
        return _EPOCH + dt.timedelta(microseconds=int(at_text)), int(pk_text)
    except OverflowError:
        return None


def _page(
    name: str, item: type[serializers.Serializer], *, next_field: serializers.Field | None = None, contact: bool = False
) -> Any:
    """The schema of a list answer: {"results": [...]} (+ "next", "contact")."""
    fields: dict[str, serializers.Field] = {"results": item(many=True)}
    if contact:
        fields["contact"] = serializers.IntegerField()
    if next_field is not None:
        fields["next"] = next_field
    return inline_serializer(name, fields)


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
            OpenApiParameter("status", str),
            OpenApiParameter("inbox", int),
            OpenApiParameter("assignee", str, description="me, none or an agent id"),
            OpenApiParameter("before", str, description="cursor from the previous page's `next`"),
            OpenApiParameter("limit", int),
        ],
        operation_id="conversations_list",
        responses=_page(
            "ConversationPage",
            ConversationSerializer,
            next_field=serializers.CharField(
                allow_null=True, help_text="`before` of the next page; null on the last page."
            ),
        ),
    )
    def get(self, request: Request) -> Response:
        before = None
        cursor = request.query_params.get("before")
        if cursor:
            before = _cursor_parse(cursor)
            if before is None:
                return error_response("invalid_cursor", "`before` is not a cursor this API gave", 400)
        limit = min(max(_int_param(request, "limit") or 50, 1), 200)
        rows = selectors.conversation_list(
            agent=_agent(request),
            status=request.query_params.get("status"),
            inbox_id=_int_param(request, "inbox"),
            assignee=request.query_params.get("assignee"),
            before=before,
            limit=limit,
        )
        next_cursor = _cursor(rows[-1].last_activity_at, rows[-1].pk) if len(rows) == limit else None
        return Response({"results": ConversationSerializer(rows, many=True).data, "next": next_cursor})


class ConversationDetailView(BaseAPIView):
    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(
            selectors.conversations_visible(agent=_agent(request)).select_related("contact"), pk=pk
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        form = ConversationUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        kwargs: dict[str, Any] = {}
        for field, key in (("assignee", "assignee_id"), ("team", "team_id")):
            if field in data:
                kwargs[key] = data[field]
        conversation = conversation_update(
            conversation_id=pk,
            by=_agent(request),
            status=data.get("status"),
            priority=data.get("priority"),
            snoozed_until=data.get("snoozed_until"),
            **kwargs,
        )
        conversation.refresh_from_db()
        return Response(ConversationSerializer(conversation).data)


class ConversationMessagesView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("after_seq", int), OpenApiParameter("limit", int)],
        operation_id="conversation_messages_list",
        responses=_page("MessagePage", MessageSerializer),
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        after = _int_param(request, "after_seq") or 0
        limit = min(max(_int_param(request, "limit") or 200, 1), 500)
        rows = list(
            Message.objects.filter(conversation=conversation, seq__gt=after)
            .prefetch_related("attachments")
            .order_by("seq")[:limit]
        )
        return Response({"results": MessageSerializer(rows, many=True).data})

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer},
        description="Send a reply (or a private note). Repeating a request with the same "
        "`client_id` returns the first message with 200 instead of sending twice.",
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        form = MessageCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        message, created = message_send(
            conversation_id=pk,
            agent=_agent(request),
            body=data["body"],
            client_id=data.get("client_id"),
            identity_id=data.get("identity"),
            kind=data["kind"],
        )
        return Response(MessageSerializer(message).data, status=http.HTTP_201_CREATED if created else http.HTTP_200_OK)


class ContactDetailView(BaseAPIView):
    @extend_schema(responses=ContactSerializer)
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(
            selectors.contacts_visible(agent=_agent(request)).prefetch_related("identities"), pk=pk
        )
        return Response(ContactSerializer(contact).data)


class ContactTimelineView(BaseAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="id of the last message of the previous page"),
            OpenApiParameter("limit", int),
        ],
        operation_id="contact_timeline",
        responses=_page(
            "TimelinePage",
            MessageSerializer,
            contact=True,
            next_field=serializers.IntegerField(
                allow_null=True, help_text="`after` of the next page; null on the last page."
            ),
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        limit = min(max(_int_param(request, "limit") or 200, 1), 500)
        rows = selectors.contact_timeline(
            agent=_agent(request), contact_id=contact.pk, after=_int_param(request, "after"), limit=limit
        )
        return Response(
            {
                "contact": contact.pk,
                "results": MessageSerializer(rows, many=True).data,
                "next": rows[-1].pk if len(rows) == limit else None,
            }
        )


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
        inboxes = Inbox.objects.filter(members=_agent(request)).order_by("id")
        return Response({"results": InboxSerializer(inboxes, many=True).data})


class EventListView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("since", int, required=True), OpenApiParameter("limit", int)],
        operation_id="events_list",
        responses=EventPageSerializer,
    )
    def get(self, request: Request) -> Response:
        from apps.console.selectors import agent_inbox_ids, events_after

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


class AttachmentDownloadView(BaseAPIView):
    """An attachment's bytes, for agents of the conversation's inbox only.

    Files are never served from a public media URL: their paths are guessable.
    """

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: int) -> FileResponse:
        from apps.conversations.models import Attachment

        attachment = get_object_or_404(
            Attachment.objects.filter(message__conversation__inbox__members=request.user).exclude(file=""), pk=pk
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
