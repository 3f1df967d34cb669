"""REST API v1: thin views that parse input, call one service or selector, and serialize."""

from __future__ import annotations

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
from apps.api.items import conversation_items_data, messages_data
from apps.api.serializers import (
    AgentSerializer,
    CannedResponseSerializer,
    CannedResponseUpdateSerializer,
    ContactMergeRequestSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    EventPageSerializer,
    InboxSerializer,
    ItemContactSerializer,
    LabelSerializer,
    MeSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    MessageUploadSerializer,
    PresenceSerializer,
    ReadSerializer,
    TeamSerializer,
    UnreadSerializer,
)
from apps.assignment.services import presence_set
from apps.console.selectors import agent_inbox_ids, events_after
from apps.contacts.services import contact_merge, contact_unmerge, contact_update
from apps.conversations.models import Attachment, Message
from apps.conversations.services import (
    FileUpload,
    canned_response_create,
    canned_response_delete,
    canned_response_update,
    conversation_mark_read,
    conversation_update,
    message_send,
)
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
    conversation = selectors.conversation_item(agent=_agent(request), conversation_id=pk)
    if conversation is None:
        return error_response("not_found", "not found", 404)
    return Response(conversation_items_data([conversation])[0])


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
                enum=["recent", "waiting"],
                description="recent (default): newest activity first; waiting: longest waiting first, then the "
                "conversations nobody waits on by newest activity",
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
    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return _item(request, pk)

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
        message, created = message_send(
            conversation_id=pk,
            agent=_agent(request),
            body=data.get("body") or "",
            client_id=data.get("client_id"),
            identity_id=data.get("identity"),
            kind=data["kind"],
            attachments=files,
            template={"sid": data["template"], "variables": data.get("variables") or {}}
            if data.get("template")
            else None,
        )
        return Response(MessageSerializer(message).data, status=http.HTTP_201_CREATED if created else http.HTTP_200_OK)


def _contact(request: Request, pk: int) -> Response:
    contact = get_object_or_404(
        selectors.contacts_visible(agent=_agent(request)).prefetch_related("identities__visitors"), pk=pk
    )
    return Response(ContactSerializer(contact).data)


class ContactSearchView(BaseAPIView):
    @extend_schema(
        operation_id="contacts_search",
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="At least 2 characters: part of the name, or of an identity's address "
                "(a phone number may be typed with spaces or dashes).",
            )
        ],
        responses=_page("ContactSearchPage", ItemContactSerializer),
        description="Contacts the agent can see (a conversation in one of their inboxes), merged ones left out; "
        "at most 20, by name.",
    )
    def get(self, request: Request) -> Response:
        rows = selectors.contact_search(agent=_agent(request), q=request.query_params.get("q", ""))
        return Response({"results": ItemContactSerializer(rows, many=True).data})


class ContactDetailView(BaseAPIView):
    @extend_schema(responses=ContactSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return _contact(request, pk)

    @extend_schema(request=ContactUpdateSerializer, responses=ContactSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        form = ContactUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        contact_update(contact_id=pk, name=form.validated_data.get("name"), notes=form.validated_data.get("notes"))
        return _contact(request, pk)


class ContactConversationsView(BaseAPIView):
    @extend_schema(
        operation_id="contact_conversations", responses=_page("ContactConversationPage", ConversationSerializer)
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        rows = selectors.contact_conversations(agent=_agent(request), contact_id=contact.pk)
        return Response({"results": conversation_items_data(rows)})


class ContactMergeView(BaseAPIView):
    @extend_schema(
        request=ContactMergeRequestSerializer,
        responses=inline_serializer(
            "ContactMergeResult", {"merge": serializers.IntegerField(), "contact": ContactSerializer()}
        ),
        description="Merge `other` INTO this contact. Both need a verified identity (409 unverified_identity). "
        "Undo with POST /api/v1/contact-merges/<merge>/undo.",
    )
    def post(self, request: Request, pk: int) -> Response:
        form = ContactMergeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        visible = selectors.contacts_visible(agent=_agent(request))
        get_object_or_404(visible, pk=pk)
        get_object_or_404(visible, pk=form.validated_data["other"])
        merge = contact_merge(survivor_id=pk, merged_id=form.validated_data["other"], by=_agent(request))
        contact = _contact(request, pk).data
        return Response({"merge": merge.pk, "contact": contact})


class ContactUnmergeView(BaseAPIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ContactUnmergeResult",
            {"merge": serializers.IntegerField(), "survivor": ContactSerializer(), "merged": ContactSerializer()},
        ),
        description="Undo a merge: the identities and conversations it moved go back (409 already_undone).",
    )
    def post(self, request: Request, pk: int) -> Response:
        merge = selectors.contact_merge_visible(agent=_agent(request), merge_id=pk)
        if merge is None:
            return error_response("not_found", "not found", 404)
        merge = contact_unmerge(merge_id=merge.pk, by=_agent(request))
        return Response(
            {
                "merge": merge.pk,
                "survivor": _contact(request, merge.survivor_id).data,
                "merged": _contact(request, merge.merged_id).data,
            }
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


class ContactTimelineView(BaseAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="id of the last message of the previous page (paging forwards)"),
            OpenApiParameter("newest", bool, description="the newest messages (the console opens a timeline so)"),
            OpenApiParameter("before", int, description="`previous` of a page: the messages before it"),
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
            previous_field=serializers.IntegerField(
                allow_null=True,
                help_text="`before` of the page of earlier messages (with `newest` or `before`); null when "
                "there are none.",
            ),
        ),
        description="Messages of the contact across conversations and channels, oldest first in a page. "
        "Open with `newest=1`, then `before=<previous>` for earlier messages; or page forwards with `after`.",
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        limit = min(max(_int_param(request, "limit") or 200, 1), 500)
        page = selectors.contact_timeline(
            agent=_agent(request),
            contact_id=contact.pk,
            after=_int_param(request, "after"),
            before=_int_param(request, "before"),
            newest=request.query_params.get("newest") in ("1", "true"),
            limit=limit,
        )
        return Response(
            {
                "contact": contact.pk,
                "results": messages_data(page.messages),
                "next": page.next,
                "previous": page.previous,
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

        attachment = get_object_or_404(
            Attachment.objects.filter(message__conversation__inbox__members=_agent(request)).exclude(file=""), pk=pk
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
