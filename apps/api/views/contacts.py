"""Contacts: search, one contact, their conversations and timeline, merging and undoing it."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import selectors
from apps.api.errors import error_response
from apps.api.items import contact_items_data, conversation_items_data, messages_data
from apps.api.renderers import FAST_RENDERERS
from apps.api.serializers import (
    ContactMergeRequestSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    ConversationSerializer,
    ItemContactSerializer,
    MessageSerializer,
)
from apps.api.views.base import BaseAPIView, _agent, _int_param, _page
from apps.contacts.services import contact_merge, contact_unmerge, contact_update


def _contact(request: Request, pk: int) -> Response:
    contact = get_object_or_404(
        selectors.contacts_visible(agent=_agent(request)).prefetch_related("identities__visitors"), pk=pk
    )
    return Response(ContactSerializer(contact).data)


class ContactSearchView(BaseAPIView):
    renderer_classes = FAST_RENDERERS

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
        return Response({"results": contact_items_data(rows)})


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
    renderer_classes = FAST_RENDERERS

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
