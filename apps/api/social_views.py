"""Social channels in the API: a contact's linked social accounts (the list, starting a link with a
one-time code), and how a Mastodon reply would go out (for the composer)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import selectors
from apps.api.views import BaseAPIView, _agent
from apps.contacts.models import Identity
from apps.core.errors import InvalidInput
from apps.gateways.mastodon.channel import PUBLIC_CHOICE, last_post, reply_audience
from apps.gateways.mastodon.gateway import KIND, desk_handles, link_instructions
from apps.gateways.mastodon.models import MastodonAccount
from apps.linking.selectors import linked_accounts
from apps.linking.services import LINKABLE_KINDS, link_start


class LinkStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(LINKABLE_KINDS), default="mastodon")


class ContactLinkedAccountsView(BaseAPIView):
    @extend_schema(
        responses=inline_serializer(
            "LinkedAccounts",
            {
                "accounts": serializers.ListField(child=serializers.DictField()),
                "pending": serializers.ListField(child=serializers.DictField()),
            },
        ),
        operation_id="contact_linked_accounts",
        description="The contact's social accounts (Mastodon): stable id, current handle, how each was "
        "proven (`code`: a one-time code sent privately; `channel`: the customer wrote from it), and "
        "`merge`, the contact merge that joined the timelines (undo: POST /api/v1/contact-merges/<id>/undo). "
        "`pending` lists codes still waiting for the customer (never the codes themselves).",
    )
    def get(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        return Response(linked_accounts(contact_id=pk))

    @extend_schema(
        request=LinkStartSerializer,
        responses={201: inline_serializer("LinkCode", {"code": serializers.CharField()})},
        operation_id="contact_link_start",
        description="Start linking a social account: a one-time code (LINK_CODE_TTL_SECONDS, single use) "
        "the customer sends **privately** (a direct message) from the account to the desk account. "
        "The code is shown only in this answer. 409 unverified_identity when the contact has no verified "
        "identity to link to; 429 rate_limited after LINK_STARTS_PER_HOUR codes for the contact in an hour. "
        "A newer code cancels the older one.",
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.contacts_visible(agent=_agent(request)), pk=pk)
        form = LinkStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        issued = link_start(contact_id=pk, kind=form.validated_data["kind"], by=_agent(request))
        return Response(
            {
                "id": issued.link.pk,
                "kind": issued.link.kind,
                "code": issued.code,
                "expires_at": issued.link.expires_at,
                "send_to": desk_handles(),
                "instructions": link_instructions(issued.code),
            },
            status=http.HTTP_201_CREATED,
        )


class ConversationMastodonReplyView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("identity", int, description="The reply identity (default: the last one used).")],
        responses=inline_serializer("MastodonReply", {"mastodon": serializers.BooleanField()}),
        operation_id="conversation_mastodon_reply",
        description="How a reply in this conversation would go out on Mastodon, for the composer: "
        "`default` (public or private: the way the customer wrote), whether a public reply is possible "
        "(`public_allowed`, else `public_refusal` says why), the visibility a public reply keeps, the "
        "`mention` put in front of the text, the customer's post (`post_url`) and the instance's "
        '`max_characters`. `{"mastodon": false}` when the reply does not go out on Mastodon.',
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(
            selectors.conversations_visible(agent=_agent(request)).select_related("last_identity"), pk=pk
        )
        identity_id = request.query_params.get("identity")
        identity = (
            Identity.objects.filter(pk=int(identity_id), contact_id=conversation.contact_id).first()
            if identity_id and identity_id.isdigit()
            else conversation.last_identity
        )
        account = MastodonAccount.objects.filter(inbox_id=conversation.inbox_id).first()
        if identity is None or identity.kind != KIND or account is None:
            return Response({"mastodon": False})
        post = last_post(identity, conversation.inbox_id, conversation.pk) or {}
        default = reply_audience(identity, conversation.inbox_id, conversation_id=conversation.pk)
        try:
            public = reply_audience(identity, conversation.inbox_id, PUBLIC_CHOICE, conversation_id=conversation.pk)
            refusal = ""
        except InvalidInput as exc:
            public, refusal = None, exc.message
        return Response(
            {
                "mastodon": True,
                "default": default["choice"],
                "mention": default["mention"],
                "public_allowed": public is not None,
                "public_refusal": refusal,
                "public_visibility": public["visibility"] if public else None,
                "post_url": post.get("url") or "",
                "post_visibility": post.get("visibility") or "",
                "max_characters": account.max_characters,
            }
        )
