"""REST API v1, widget administration: GET/PATCH /api/v1/inboxes/<id>/widget (admins)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import Inbox
from apps.api.views import BaseAPIView, _agent
from apps.core.errors import NotFound
from apps.widget.models import WidgetSettings
from apps.widget.services import _require_admin, embed_snippet, widget_settings_for, widget_settings_update


class WidgetSettingsSerializer(serializers.Serializer):
    inbox = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True, help_text="The inbox key the embed snippet carries (data-inbox).")
    allowed_origins = serializers.ListField(
        child=serializers.CharField(), help_text="Origins whose pages may embed the widget (no '*')."
    )
    greeting = serializers.CharField(allow_blank=True, max_length=500)
    offline_message = serializers.CharField(allow_blank=True, max_length=500)
    colour = serializers.CharField(max_length=7)
    business_hours = serializers.JSONField(help_text='{"tz": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]]}}')
    require_identity = serializers.BooleanField()
    ask_email_when_offline = serializers.BooleanField()
    secret = serializers.CharField(read_only=True, help_text="HMAC key for data-user-hash; keep it on your server.")
    regenerate_secret = serializers.BooleanField(write_only=True, required=False)
    embed_snippet = serializers.CharField(read_only=True)


def widget_settings_data(ws: WidgetSettings) -> dict[str, Any]:
    return {
        "inbox": ws.inbox_id,
        "key": ws.inbox.key,
        "allowed_origins": ws.origins(),
        "greeting": ws.greeting,
        "offline_message": ws.offline_message,
        "colour": ws.colour,
        "business_hours": ws.business_hours,
        "require_identity": ws.require_identity,
        "ask_email_when_offline": ws.ask_email_when_offline,
        "secret": ws.secret,
        "embed_snippet": embed_snippet(ws.inbox),
    }


class InboxWidgetView(BaseAPIView):
    @extend_schema(
        responses=WidgetSettingsSerializer,
        operation_id="inbox_widget_get",
        description="A widget inbox's settings, its HMAC secret and the embed snippet (administrators only).",
    )
    def get(self, request: Request, pk: int) -> Response:
        _require_admin(_agent(request))
        inbox = Inbox.objects.filter(pk=pk, channel=Inbox.Channel.WIDGET).first()
        if inbox is None:
            raise NotFound("no such widget inbox")
        return Response(widget_settings_data(widget_settings_for(inbox)))

    @extend_schema(
        request=WidgetSettingsSerializer,
        responses=WidgetSettingsSerializer,
        operation_id="inbox_widget_update",
        description="Change some settings (administrators only); `regenerate_secret: true` draws a new HMAC secret "
        "(the host site must then sign with it). 400 invalid_widget_settings in words.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        _require_admin(_agent(request))
        form = WidgetSettingsSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        regenerate = bool(changes.pop("regenerate_secret", False))
        ws = widget_settings_update(inbox_id=pk, by=_agent(request), regenerate_secret=regenerate, **changes)
        return Response(widget_settings_data(ws))
