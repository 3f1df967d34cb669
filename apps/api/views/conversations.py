"""Conversations: the list and its unread counts, one conversation, reading it, its messages (and sending)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import can_assign
from apps.api import selectors
from apps.api.items import conversation_items_data, messages_data
from apps.api.renderers import FAST_RENDERERS
from apps.api.serializers import (
    ConversationSerializer,
    ConversationUpdateSerializer,
    MeSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    MessageUploadSerializer,
    ReadSerializer,
    UnreadSerializer,
)
from apps.api.views.base import API_MAX_BODY, BaseAPIView, _agent, _int_param, _item, _page
from apps.conversations.models import Message
from apps.conversations.services import (
    FileUpload,
    conversation_mark_read,
    conversation_update,
    message_send,
)
from apps.core.errors import PermissionDenied


class MeView(BaseAPIView):
    @extend_schema(responses=MeSerializer, operation_id="me")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(selectors.agent_me(agent=_agent(request))).data)


class UnreadView(BaseAPIView):
    @extend_schema(responses=UnreadSerializer, operation_id="unread_totals")
    def get(self, request: Request) -> Response:
        """Unread customer messages in the agent's open conversations (assigned to them or to
        nobody), and in how many conversations: the console's tab title."""
        return Response(UnreadSerializer(selectors.unread_totals(agent=_agent(request))).data)


class ConversationListView(BaseAPIView):
    renderer_classes = FAST_RENDERERS

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "view", str, description="all (default: the agent's inboxes), mine, unassigned, team:<id>"
            ),
            OpenApiParameter("status", str, enum=["open", "pending", "snoozed", "resolved"]),
            OpenApiParameter(
                "channel", str, description="an identity kind (phone, whatsapp, email, widget, telegram, xmpp) or sms"
            ),
            OpenApiParameter(
                "sort",
                str,
                enum=["recent", "waiting", "due"],
                description="recent (default): newest activity first; waiting: longest waiting first, then the "
                "conversations nobody waits on by newest activity; due: the SLA's next due time first (overdue "
                "first), then the conversations with nothing due by newest activity",
            ),
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
        limit = min(max(_int_param(request, "limit") or 50, 1), 200)
        params = request.query_params
        rows, next_cursor = selectors.conversation_list(
            agent=_agent(request),
            view=params.get("view") or "all",
            status=params.get("status"),
            channel=params.get("channel"),
            inbox_id=_int_param(request, "inbox"),
            assignee=params.get("assignee"),
            sort=params.get("sort") or "recent",
            before=params.get("before") or None,
            limit=limit,
        )
        return Response({"results": conversation_items_data(rows), "next": next_cursor})


class ConversationDetailView(BaseAPIView):
    renderer_classes = FAST_RENDERERS

    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return _item(request, pk)

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        agent = _agent(request)
        current = get_object_or_404(selectors.conversations_visible(agent=agent), pk=pk)
        form = ConversationUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if (
            "assignee" in data
            and data["assignee"] != current.assignee_id
            and not can_assign(agent, current_assignee_id=current.assignee_id, new_assignee_id=data["assignee"])
        ):
            raise PermissionDenied(
                "only a supervisor may move a colleague's conversation or give one to someone else",
                code="forbidden_reassign",
            )
        kwargs: dict[str, Any] = {}
        for field, key in (("assignee", "assignee_id"), ("team", "team_id")):
            if field in data:
                kwargs[key] = data[field]
        conversation_update(
            conversation_id=pk,
            by=_agent(request),
            status=data.get("status"),
            priority=data.get("priority"),
            snoozed_until=data.get("snoozed_until"),
            labels=data.get("labels"),
            **kwargs,
        )
        return _item(request, pk)


class ConversationReadView(BaseAPIView):
    @extend_schema(
        request=ReadSerializer,
        responses=inline_serializer("ReadMark", {"seq": serializers.IntegerField()}),
        description="Mark the conversation read up to `seq` (default: everything). Never moves backwards; "
        "answers the agent's read position.",
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        form = ReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        seq = conversation_mark_read(
            agent_id=_agent(request).pk, conversation_id=pk, seq=form.validated_data.get("seq")
        )
        return Response({"seq": seq})


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
        rows = list(Message.objects.filter(conversation=conversation, seq__gt=after).order_by("seq")[:limit])
        return Response({"results": messages_data(rows)})

    def max_body(self, request: Request) -> int:
        if request.method == "POST" and request.content_type.startswith("multipart/"):
            return settings.AGENT_ATTACHMENTS_MAX_BYTES + API_MAX_BODY  # files attached to a reply
        return API_MAX_BODY

    @extend_schema(
        request={"application/json": MessageCreateSerializer, "multipart/form-data": MessageUploadSerializer},
        responses={201: MessageSerializer, 200: MessageSerializer},
        description="Send a reply (or a private note). Repeating a request with the same "
        "`client_id` returns the first message with 200 instead of sending twice. Attach files by "
        "posting multipart/form-data with the same fields and one `files` part per file (up to 10, "
        "AGENT_ATTACHMENTS_MAX_BYTES together); files that do not fit the channel's limits (MMS: 5 MB, "
        "WhatsApp: one file, by type) are refused with 400 attachment_not_allowed before anything is "
        "queued. On WhatsApp, outside the 24-hour window a free-form reply is refused with 409 "
        "reply_window_closed: send an approved `template` (ContentSid) with its `variables` instead.",
    )
    def post(self, request: Request, pk: int) -> Response:

        get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        multipart = request.content_type.startswith("multipart/")
        form = (MessageUploadSerializer if multipart else MessageCreateSerializer)(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        files = [
            FileUpload(
                filename=upload.name or "file",
                content_type=upload.content_type or "application/octet-stream",
                data=upload.read(),
            )
            for upload in (request.FILES.getlist("files") if multipart else [])
        ]
        client_id = data.get("client_id")
        try:
            message, created = message_send(
                conversation_id=pk,
                agent=_agent(request),
                body=data.get("body") or "",
                client_id=client_id,
                identity_id=data.get("identity"),
                kind=data["kind"],
                attachments=files,
                template={"sid": data["template"], "variables": data.get("variables") or {}}
                if data.get("template")
                else None,
                options={"visibility": data["visibility"]} if data.get("visibility") else None,
            )
        except DATABASE_GONE:
            # The database went away mid-request, possibly during COMMIT: whether the reply was
            # stored is unknown here. Ask again on a fresh connection; a reply that committed is
            # answered as sent, so the client does not see an error for a stored reply.
            stored = _stored_after_outage(pk, client_id)
            if stored is None:
                raise
            return Response(MessageSerializer(stored).data, status=http.HTTP_201_CREATED)
        return Response(MessageSerializer(message).data, status=http.HTTP_201_CREATED if created else http.HTTP_200_OK)


DATABASE_GONE = (OperationalError, InterfaceError)


def _stored_after_outage(conversation_id: int, client_id: str | None) -> Message | None:
    """The reply with this client id, if it committed, read on a new connection (tried for a few
    seconds while the database comes back); None when it is not there or cannot be told."""
    if not client_id:
        return None
    deadline = time.monotonic() + 5.0
    while True:
        connection.close()
        try:
            return (
                Message.objects.filter(conversation_id=conversation_id, client_id=client_id)
                .prefetch_related("attachments")
                .first()
            )
        except DATABASE_GONE:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)
