"""REST API v1, WhatsApp: the 24-hour window of a conversation and the templates."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api import selectors
from apps.api.views import BaseAPIView, _agent, _int_param
from apps.whatsapp.services import (
    conversation_whatsapp_window,
    template_data,
    whatsapp_templates,
    whatsapp_templates_sync,
)

_window = inline_serializer(
    "WhatsAppWindow",
    {
        "state": serializers.ChoiceField(choices=["open", "closed"]),
        "last_inbound_at": serializers.DateTimeField(allow_null=True),
        "closes_at": serializers.DateTimeField(allow_null=True),
        "seconds_left": serializers.IntegerField(),
    },
)

_template = inline_serializer(
    "WhatsAppTemplate",
    {
        "sid": serializers.CharField(),
        "name": serializers.CharField(),
        "language": serializers.CharField(),
        "body": serializers.CharField(help_text="The text, with {{1}}-style placeholders."),
        "variables": serializers.ListField(
            child=serializers.DictField(), help_text='[{"name": "1", "sample": "Jane"}]'
        ),
        "approval": serializers.CharField(help_text="WhatsApp's approval status (approved, pending, rejected, …)."),
        "approved": serializers.BooleanField(),
        "category": serializers.CharField(),
        "synced_at": serializers.DateTimeField(),
    },
)


class ConversationWhatsAppWindowView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("identity", int, description="The identity a reply would go to.")],
        responses=inline_serializer(
            "ConversationWhatsAppWindow",
            {
                "identity": serializers.IntegerField(allow_null=True),
                "channel": serializers.CharField(allow_null=True),
                "window": _window,
            },
        ),
        description="WhatsApp's 24-hour customer-service window for a reply in this conversation "
        "(null when the reply would not go on WhatsApp).",
    )
    def get(self, request: Request, pk: int) -> Response:
        from django.shortcuts import get_object_or_404

        conversation = get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        return Response(
            conversation_whatsapp_window(conversation=conversation, identity_id=_int_param(request, "identity"))
        )


class WhatsAppTemplateListView(BaseAPIView):
    @extend_schema(responses=inline_serializer("WhatsAppTemplatePage", {"results": _template}))
    def get(self, request: Request) -> Response:
        return Response({"results": [template_data(t) for t in whatsapp_templates()]})


class WhatsAppTemplateSyncView(BaseAPIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WhatsAppTemplateSync",
            {
                "created": serializers.IntegerField(),
                "updated": serializers.IntegerField(),
                "removed": serializers.IntegerField(),
                "results": _template,
            },
        ),
        description="Read the templates from Twilio's Content API now (502 templates_unavailable when "
        "Twilio cannot be read; what was stored stays).",
    )
    def post(self, request: Request) -> Response:
        result = whatsapp_templates_sync()
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "removed": result.removed,
                "results": [template_data(t) for t in whatsapp_templates()],
            }
        )
