"""Linked social accounts of a contact: the list, and starting a link (a one-time code)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import selectors
from apps.api.views import BaseAPIView, _agent
from apps.gateways.mastodon.gateway import full_acct
from apps.gateways.mastodon.models import MastodonAccount
from apps.linking.selectors import linked_accounts
from apps.linking.services import LINKABLE_KINDS, link_start


class LinkStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(LINKABLE_KINDS), default="mastodon")


def _desk_handles() -> list[str]:
    return [f"@{full_acct(a.username, a.host)}" for a in MastodonAccount.objects.exclude(username="").order_by("pk")]


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
        handles = _desk_handles()
        where = " or ".join(handles) if handles else "the support account"
        return Response(
            {
                "id": issued.link.pk,
                "kind": issued.link.kind,
                "code": issued.code,
                "expires_at": issued.link.expires_at,
                "send_to": handles,
                "instructions": f"Send {issued.code} as a direct (private) message from your Mastodon account "
                f"to {where}. Do not post it publicly: a public code is refused.",
            },
            status=http.HTTP_201_CREATED,
        )
