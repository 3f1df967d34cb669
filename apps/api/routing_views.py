"""REST API v1, routing: rules, skills, agents' skills, strategies and queue replies (reading:
any agent; changing: administrators), and a conversation's place in the queue."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import Agent, Inbox, Team
from apps.api import selectors
from apps.api.views import BaseAPIView, _agent
from apps.core.errors import InvalidInput, NotFound
from apps.dispatch import services
from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, Strategy, TeamRouting
from apps.dispatch.queue import queue_status, wait_words


class RuleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=120)
    position = serializers.IntegerField(required=False, help_text="Rules are tried in position order.")
    enabled = serializers.BooleanField(required=False)
    keywords = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='Any of them as a word; "refund*" is a prefix.'
    )
    pattern = serializers.CharField(required=False, allow_blank=True, help_text="A regular expression.")
    channels = serializers.ListField(child=serializers.CharField(), required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    customer = serializers.ChoiceField(choices=RoutingRule.Customer.choices, required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)
    inboxes = serializers.ListField(child=serializers.IntegerField(), required=False)
    team = serializers.IntegerField(allow_null=True, required=False)
    priority = serializers.IntegerField(allow_null=True, required=False, min_value=0, max_value=4)
    skills = serializers.ListField(child=serializers.IntegerField(), required=False)


def rule_data(rule: RoutingRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "keywords": rule.keywords,
        "pattern": rule.pattern,
        "channels": rule.channels,
        "languages": rule.languages,
        "customer": rule.customer,
        "labels": rule.labels,
        "inboxes": rule.inboxes,
        "team": rule.team_id,
        "priority": rule.priority,
        "skills": sorted(s.pk for s in rule.skills.all()),
    }


def _rules() -> list[dict[str, Any]]:
    return [rule_data(r) for r in RoutingRule.objects.prefetch_related("skills").order_by("position", "id")]


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid")
    return dict(request.data)


class RuleListView(BaseAPIView):
    @extend_schema(
        operation_id="routing_rules_list",
        responses=inline_serializer("RulePage", {"results": RuleSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": _rules()})

    @extend_schema(operation_id="routing_rules_create", request=RuleSerializer, responses={201: RuleSerializer})
    def post(self, request: Request) -> Response:
        rule = services.rule_create(by=_agent(request), data=_body(request))
        return Response(rule_data(rule), status=http.HTTP_201_CREATED)


class RuleDetailView(BaseAPIView):
    @extend_schema(operation_id="routing_rules_get", responses=RuleSerializer)
    def get(self, request: Request, pk: int) -> Response:
        rule = RoutingRule.objects.filter(pk=pk).prefetch_related("skills").first()
        if rule is None:
            raise NotFound("no such routing rule")
        return Response(rule_data(rule))

    @extend_schema(operation_id="routing_rules_update", request=RuleSerializer, responses=RuleSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        rule = services.rule_update(by=_agent(request), rule_id=pk, data=_body(request))
        return Response(rule_data(rule))

    @extend_schema(operation_id="routing_rules_delete", request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.rule_delete(by=_agent(request), rule_id=pk)
        return Response(status=http.HTTP_204_NO_CONTENT)


class RuleOrderView(BaseAPIView):
    @extend_schema(
        operation_id="routing_rules_order",
        request=inline_serializer("RuleOrder", {"rules": serializers.ListField(child=serializers.IntegerField())}),
        responses=inline_serializer("RuleOrderPage", {"results": RuleSerializer(many=True)}),
    )
    def put(self, request: Request) -> Response:
        services.rules_reorder(by=_agent(request), rule_ids=_body(request).get("rules"))  # type: ignore[arg-type]
        return Response({"results": _rules()})


class SkillSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True)
    agents = serializers.ListField(child=serializers.IntegerField(), read_only=True)


def _skills() -> list[dict[str, Any]]:
    holders: dict[int, list[int]] = {}
    for agent_id, skill_id in AgentSkill.objects.order_by("agent_id").values_list("agent_id", "skill_id"):
        holders.setdefault(skill_id, []).append(agent_id)
    return [
        {"id": s.pk, "name": s.name, "description": s.description, "agents": holders.get(s.pk, [])}
        for s in Skill.objects.order_by("name")
    ]


class SkillListView(BaseAPIView):
    @extend_schema(
        operation_id="routing_skills_list",
        responses=inline_serializer("SkillPage", {"results": SkillSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": _skills()})

    @extend_schema(operation_id="routing_skills_create", request=SkillSerializer, responses={201: SkillSerializer})
    def post(self, request: Request) -> Response:
        body = _body(request)
        skill = services.skill_create(
            by=_agent(request), name=str(body.get("name") or ""), description=str(body.get("description") or "")
        )
        return Response(
            {"id": skill.pk, "name": skill.name, "description": skill.description, "agents": []}, status=201
        )


class SkillDetailView(BaseAPIView):
    @extend_schema(operation_id="routing_skills_delete", request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.skill_delete(by=_agent(request), skill_id=pk)
        return Response(status=http.HTTP_204_NO_CONTENT)


AgentSkills = inline_serializer(
    "AgentSkills",
    {"agent": serializers.IntegerField(), "skills": serializers.ListField(child=serializers.IntegerField())},
)


class AgentSkillsView(BaseAPIView):
    @extend_schema(operation_id="agent_skills_get", responses=AgentSkills)
    def get(self, request: Request, pk: int) -> Response:
        if not Agent.objects.filter(pk=pk).exists():
            raise NotFound("no such agent")
        skills = sorted(AgentSkill.objects.filter(agent_id=pk).values_list("skill_id", flat=True))
        return Response({"agent": pk, "skills": skills})

    @extend_schema(operation_id="agent_skills_set", request=AgentSkills, responses=AgentSkills)
    def put(self, request: Request, pk: int) -> Response:
        skills = services.agent_skills_set(by=_agent(request), agent_id=pk, skill_ids=_body(request).get("skills"))  # type: ignore[arg-type]
        return Response({"agent": pk, "skills": skills})


class RoutingSettingsSerializer(serializers.Serializer):
    inboxes = serializers.ListField(child=serializers.DictField())
    teams = serializers.ListField(child=serializers.DictField())
    strategies = serializers.ListField(child=serializers.CharField())


def _settings() -> dict[str, Any]:
    by_inbox = {r.inbox_id: r for r in InboxRouting.objects.all()}
    by_team = dict(TeamRouting.objects.values_list("team_id", "strategy"))
    inboxes = []
    for inbox in Inbox.objects.order_by("id"):
        row = by_inbox.get(inbox.pk)
        inboxes.append(
            {
                "inbox": inbox.pk,
                "name": inbox.name,
                "channel": inbox.channel,
                "strategy": row.strategy if row else Strategy.ROUND_ROBIN,
                "queue_reply": bool(row and row.queue_reply),
                "queue_reply_text": row.queue_reply_text if row else "",
            }
        )
    teams = [{"team": t.pk, "name": t.name, "strategy": by_team.get(t.pk)} for t in Team.objects.order_by("id")]
    return {"inboxes": inboxes, "teams": teams, "strategies": list(Strategy.values)}


class RoutingSettingsView(BaseAPIView):
    @extend_schema(operation_id="routing_settings_get", responses=RoutingSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(_settings())


class InboxRoutingView(BaseAPIView):
    @extend_schema(
        operation_id="inbox_routing_update",
        request=inline_serializer(
            "InboxRouting",
            {
                "strategy": serializers.ChoiceField(choices=Strategy.choices, required=False),
                "queue_reply": serializers.BooleanField(required=False),
                "queue_reply_text": serializers.CharField(required=False, allow_blank=True),
            },
        ),
        responses=RoutingSettingsSerializer,
    )
    def patch(self, request: Request, pk: int) -> Response:
        services.inbox_routing_set(by=_agent(request), inbox_id=pk, data=_body(request))
        return Response(_settings())


class TeamRoutingView(BaseAPIView):
    @extend_schema(
        operation_id="team_routing_update",
        request=inline_serializer("TeamRouting", {"strategy": serializers.CharField(allow_null=True)}),
        responses=RoutingSettingsSerializer,
    )
    def put(self, request: Request, pk: int) -> Response:
        services.team_routing_set(by=_agent(request), team_id=pk, strategy=_body(request).get("strategy"))
        return Response(_settings())


QueueSerializer = inline_serializer(
    "QueuePosition",
    {
        "waiting": serializers.BooleanField(),
        "position": serializers.IntegerField(allow_null=True),
        "ahead": serializers.IntegerField(),
        "expected_wait_seconds": serializers.IntegerField(allow_null=True),
        "expected_wait": serializers.CharField(),
        "agents_online": serializers.IntegerField(),
    },
)


class ConversationQueueView(BaseAPIView):
    @extend_schema(operation_id="conversation_queue", responses=QueueSerializer)
    def get(self, request: Request, pk: int) -> Response:
        conversation = selectors.conversation_item(agent=_agent(request), conversation_id=pk)
        if conversation is None:
            raise NotFound("no such conversation")
        status = queue_status(conversation)
        return Response({**status.data(), "expected_wait": wait_words(status.expected_wait_seconds)})
