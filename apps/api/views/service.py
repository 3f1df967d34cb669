"""Service levels, macros and satisfaction: the desk's settings (admins change them, everyone
reads them), applying a macro, and a conversation's survey."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import can_manage_desk
from apps.api import selectors
from apps.api.views.base import BaseAPIView, _agent, _item, _page
from apps.core.errors import PermissionDenied
from apps.csat.models import Survey
from apps.macros.models import Macro
from apps.macros.services import macro_apply, macro_delete, macro_save
from apps.sla.calendar import week_validate
from apps.sla.models import BusinessCalendar, EscalationRule, Holiday, SlaPolicy
from apps.sla.services import sla_config_delete, sla_config_save


def _require_manager(request: Request) -> None:
    if not can_manage_desk(_agent(request)):
        raise PermissionDenied("only an administrator may change the desk's settings", code="forbidden")


class CalendarSerializer(serializers.ModelSerializer):
    class Meta:
        model = BusinessCalendar
        fields = ["id", "name", "tz", "week", "team"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            week_validate(attrs.get("tz", "UTC"), attrs.get("week", {}))
        except ValueError as exc:
            raise serializers.ValidationError({"week": str(exc)}) from None
        return attrs


class HolidaySerializer(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["id", "calendar", "date", "name"]
        validators: list = []  # the unique constraint answers as a clear error from the service


class EscalationSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscalationRule
        fields = ["id", "policy", "target", "action", "priority", "team"]


class PolicySerializer(serializers.ModelSerializer):
    escalations = EscalationSerializer(many=True, read_only=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "inbox",
            "team",
            "priority",
            "first_response_minutes",
            "resolution_minutes",
            "business_hours",
            "active",
            "escalations",
        ]
        validators: list = []


class MacroSerializer(serializers.ModelSerializer):
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Macro
        fields = [
            "id",
            "name",
            "add_labels",
            "remove_labels",
            "team",
            "status",
            "snooze_minutes",
            "priority",
            "reply",
            "reply_is_note",
            "actions",
        ]
        validators: list = []

    def get_actions(self, macro: Macro) -> list[str]:
        return macro.actions()


class MacroApplySerializer(serializers.Serializer):
    macro = serializers.IntegerField()
    client_id = serializers.CharField(max_length=48, help_text="Makes a repeated request do nothing more.")


class SurveySerializer(serializers.ModelSerializer):
    class Meta:
        model = Survey
        fields = ["id", "status", "skip_reason", "channel", "agent", "created_at", "rating", "comment", "answered_at"]


def _config_views(
    model: type[Any], serializer: type[serializers.ModelSerializer], name: str
) -> tuple[type[BaseAPIView], type[BaseAPIView]]:
    """A list (GET everyone, POST admins) and a detail (PATCH, DELETE admins) view of a setting."""

    class ListView(BaseAPIView):
        @extend_schema(operation_id=f"{name}_list", responses=_page(f"{model.__name__}Page", serializer))
        def get(self, request: Request) -> Response:
            rows = model.objects.order_by("id")
            if model is SlaPolicy:
                rows = rows.prefetch_related("escalations")
            return Response({"results": serializer(rows, many=True).data})

        @extend_schema(operation_id=f"{name}_create", request=serializer, responses={201: serializer})
        def post(self, request: Request) -> Response:
            _require_manager(request)
            form = serializer(data=request.data)
            form.is_valid(raise_exception=True)
            saved = _save(model, None, dict(form.validated_data), request)
            return Response(serializer(saved).data, status=http.HTTP_201_CREATED)

    class DetailView(BaseAPIView):
        @extend_schema(operation_id=f"{name}_update", request=serializer, responses=serializer)
        def patch(self, request: Request, pk: int) -> Response:
            _require_manager(request)
            instance = get_object_or_404(model, pk=pk)
            form = serializer(instance, data=request.data, partial=True)
            form.is_valid(raise_exception=True)
            saved = _save(model, pk, dict(form.validated_data), request)
            return Response(serializer(saved).data)

        @extend_schema(operation_id=f"{name}_delete", request=None, responses={204: None})
        def delete(self, request: Request, pk: int) -> Response:
            _require_manager(request)
            if model is Macro:
                macro_delete(pk=pk)
            else:
                sla_config_delete(model=model, pk=pk)
            return Response(status=http.HTTP_204_NO_CONTENT)

    ListView.__name__ = f"{model.__name__}ListView"
    DetailView.__name__ = f"{model.__name__}DetailView"
    return ListView, DetailView


def _save(model: type[Any], pk: int | None, data: dict[str, Any], request: Request) -> Any:
    if model is Macro:
        return macro_save(pk=pk, data=data, by=_agent(request))
    return sla_config_save(model=model, pk=pk, data=data)


CalendarListView, CalendarDetailView = _config_views(BusinessCalendar, CalendarSerializer, "sla_calendars")
HolidayListView, HolidayDetailView = _config_views(Holiday, HolidaySerializer, "sla_holidays")
PolicyListView, PolicyDetailView = _config_views(SlaPolicy, PolicySerializer, "sla_policies")
EscalationListView, EscalationDetailView = _config_views(EscalationRule, EscalationSerializer, "sla_escalations")
MacroListView, MacroDetailView = _config_views(Macro, MacroSerializer, "macros")


class ConversationMacroView(BaseAPIView):
    @extend_schema(
        request=MacroApplySerializer,
        responses={201: dict, 200: dict},
        description="Apply a macro: its reply (or note), labels, team, priority and status in one step, "
        "recorded in the timeline. Repeating the same `client_id` does nothing more (200).",
    )
    def post(self, request: Request, pk: int) -> Response:
        agent = _agent(request)
        get_object_or_404(selectors.conversations_visible(agent=agent), pk=pk)
        form = MacroApplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        macro = get_object_or_404(Macro, pk=form.validated_data["macro"])
        _, created = macro_apply(
            macro_id=macro.pk, conversation_id=pk, agent=agent, client_id=form.validated_data["client_id"]
        )
        response = _item(request, pk)
        response.status_code = http.HTTP_201_CREATED if created else http.HTTP_200_OK
        return response


class ConversationSurveyView(BaseAPIView):
    @extend_schema(responses=SurveySerializer, description="The satisfaction survey of a conversation (404: none).")
    def get(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.conversations_visible(agent=_agent(request)), pk=pk)
        survey = get_object_or_404(Survey, conversation_id=pk)
        return Response(SurveySerializer(survey).data)
