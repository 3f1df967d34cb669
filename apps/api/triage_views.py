"""REST API v1, triage: the admin's rules, an agent's actionable/not-actionable click, and the
learned model's status (docs/triage.md). Rules and retraining are for administrators."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import Agent
from apps.api import selectors
from apps.api.items import conversation_items_data, messages_data
from apps.api.views import BaseAPIView, _agent
from apps.conversations.services import conversation_triage_set
from apps.core.errors import PermissionDenied
from apps.triage.classify import Category
from apps.triage.language import LANGUAGES
from apps.triage.models import TriageRule
from apps.triage.selectors import model_status, rule_list
from apps.triage.services import RULE_FIELDS, rule_create, rule_delete, rule_update, triage_retrain


def _admin(request: Request) -> Agent:
    agent = _agent(request)
    if agent.role != Agent.Role.ADMIN and not agent.is_superuser:
        raise PermissionDenied("only an administrator can change triage", code="admin_required")
    return agent


class TriageRuleSerializer(serializers.ModelSerializer):
    keywords = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=200)
    channels = serializers.ListField(child=serializers.CharField(max_length=16), required=False, max_length=20)
    languages = serializers.ListField(
        child=serializers.CharField(max_length=8),
        required=False,
        max_length=20,
        help_text=f"Language codes the triage guess knows: {', '.join(LANGUAGES)}.",
    )
    known_customer = serializers.BooleanField(required=False, allow_null=True, default=None)

    class Meta:
        model = TriageRule
        fields = ["id", *RULE_FIELDS, "created_at", "updated_at"]  # what rule_create/rule_update take
        read_only_fields = ["id", "created_at", "updated_at"]


class TriageRuleListView(BaseAPIView):
    @extend_schema(responses=TriageRuleSerializer(many=True), operation_id="triage_rules_list")
    def get(self, request: Request) -> Response:
        """The rules, in the order they are tried (any agent may read them: verdicts name them)."""
        return Response({"results": TriageRuleSerializer(rule_list(), many=True).data})

    @extend_schema(request=TriageRuleSerializer, responses={201: TriageRuleSerializer})
    def post(self, request: Request) -> Response:
        agent = _admin(request)
        form = TriageRuleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        rule = rule_create(by=agent, **form.validated_data)
        return Response(TriageRuleSerializer(rule).data, status=http.HTTP_201_CREATED)


class TriageRuleDetailView(BaseAPIView):
    @extend_schema(request=TriageRuleSerializer, responses=TriageRuleSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        _admin(request)
        form = TriageRuleSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        rule = rule_update(rule_id=pk, **form.validated_data)
        return Response(TriageRuleSerializer(rule).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        _admin(request)
        rule_delete(rule_id=pk)
        return Response(status=http.HTTP_204_NO_CONTENT)


class TriageVerdictSerializer(serializers.Serializer):
    actionable = serializers.BooleanField()
    message = serializers.IntegerField(
        required=False, allow_null=True, help_text="The customer message judged (default: their newest)."
    )


class ConversationTriageView(BaseAPIView):
    @extend_schema(
        request=TriageVerdictSerializer,
        responses=inline_serializer(
            "TriageVerdictResult", {"conversation": serializers.DictField(), "message": serializers.DictField()}
        ),
        operation_id="conversation_triage_set",
        description="Mark the conversation actionable (it joins the queues and may be auto-assigned) or not "
        "(noise: out of the queues, unassigned, in the Noise view). The click is also a label the triage "
        "model learns from.",
    )
    def post(self, request: Request, pk: int) -> Response:
        agent = _agent(request)
        get_object_or_404(selectors.conversations_visible(agent=agent), pk=pk)
        form = TriageVerdictSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        _, message = conversation_triage_set(
            conversation_id=pk,
            actionable=form.validated_data["actionable"],
            by=agent,
            message_id=form.validated_data.get("message"),
        )
        row = selectors.conversation_item_row(agent=agent, conversation_id=pk)
        data: dict[str, Any] = {
            "conversation": conversation_items_data([row])[0] if row else None,
            "message": messages_data([message])[0],
        }
        return Response(data)


class TriageModelView(BaseAPIView):
    @extend_schema(
        responses=inline_serializer(
            "TriageModelStatus",
            {
                "active": serializers.DictField(allow_null=True),
                "labels": serializers.DictField(),
                "last_attempt_at": serializers.DateTimeField(allow_null=True),
                "last_result": serializers.CharField(),
                "training": serializers.BooleanField(),
                "history": serializers.ListField(child=serializers.DictField()),
                "categories": serializers.DictField(),
            },
        ),
        operation_id="triage_model_status",
    )
    def get(self, request: Request) -> Response:
        """The model in use (version, held-out precision and recall), the labels, recent trainings."""
        return Response({**model_status(), "categories": Category.WORDS})


class TriageRetrainView(BaseAPIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "TriageTraining",
            {
                "outcome": serializers.CharField(),
                "detail": serializers.CharField(),
                "version": serializers.IntegerField(allow_null=True),
            },
        ),
        operation_id="triage_retrain",
        description="Train now (administrators). The model is rolled out only if it beats the one in use on "
        "held-out labels; `outcome` says rolled_out, rejected or skipped (and why, in `detail`).",
    )
    def post(self, request: Request) -> Response:
        _admin(request)
        result = triage_retrain()
        return Response({"outcome": result.outcome, "detail": result.detail, "version": result.version})
