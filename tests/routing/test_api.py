"""The routing API: anyone reads, only administrators change; validation in words."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.conversations.models import Conversation, Message
from apps.dispatch.models import AgentSkill, InboxRouting, RoutingRule, Skill, TeamRouting

pytestmark = pytest.mark.django_db


def client_for(agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


@pytest.fixture
def as_admin(admin):
    return client_for(admin)


@pytest.fixture
def as_agent(agent):
    return client_for(agent)


def test_agents_read_but_cannot_change(as_agent, rnd, sms_inbox, team, agent):
    RoutingRule.objects.create(name="Bugs", keywords=["crash"], team=rnd)
    assert as_agent.get("/api/v1/routing/rules").json()["results"][0]["name"] == "Bugs"
    assert as_agent.get("/api/v1/routing/settings").status_code == 200
    assert as_agent.get("/api/v1/routing/skills").status_code == 200
    refused = [
        as_agent.post("/api/v1/routing/rules", {"name": "x"}, format="json"),
        as_agent.patch(f"/api/v1/routing/rules/{RoutingRule.objects.get().pk}", {"name": "y"}, format="json"),
        as_agent.delete(f"/api/v1/routing/rules/{RoutingRule.objects.get().pk}"),
        as_agent.post("/api/v1/routing/skills", {"name": "billing"}, format="json"),
        as_agent.put(f"/api/v1/agents/{agent.pk}/skills", {"skills": []}, format="json"),
        as_agent.patch(f"/api/v1/inboxes/{sms_inbox.pk}/routing", {"strategy": "least_busy"}, format="json"),
        as_agent.put(f"/api/v1/teams/{team.pk}/routing", {"strategy": "skills"}, format="json"),
        as_agent.put("/api/v1/routing/rules/order", {"rules": []}, format="json"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert {r.json()["error"]["code"] for r in refused} == {"admin_only"}
    assert RoutingRule.objects.get().name == "Bugs"
    assert APIClient().get("/api/v1/routing/rules").status_code in (401, 403)  # anonymous


def test_admin_manages_rules(as_admin, rnd, sales):
    skill = as_admin.post("/api/v1/routing/skills", {"name": "Mobile"}, format="json")
    assert skill.status_code == 201 and skill.json()["name"] == "mobile"
    created = as_admin.post(
        "/api/v1/routing/rules",
        {"name": "Bugs", "keywords": ["crash", "error"], "team": rnd.pk, "priority": 3, "skills": [skill.json()["id"]]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    bugs = created.json()
    assert bugs["position"] == 10 and bugs["skills"] == [skill.json()["id"]] and bugs["customer"] == "any"
    sales_rule = as_admin.post(
        "/api/v1/routing/rules", {"name": "Buying", "keywords": ["price"], "team": sales.pk}, format="json"
    ).json()
    assert sales_rule["position"] == 20
    order = as_admin.put("/api/v1/routing/rules/order", {"rules": [sales_rule["id"], bugs["id"]]}, format="json")
    assert [r["name"] for r in order.json()["results"]] == ["Buying", "Bugs"]
    patched = as_admin.patch(
        f"/api/v1/routing/rules/{bugs['id']}", {"enabled": False, "channels": ["sms", "telegram"]}, format="json"
    )
    assert patched.json()["enabled"] is False and patched.json()["channels"] == ["sms", "telegram"]
    assert as_admin.delete(f"/api/v1/routing/rules/{bugs['id']}").status_code == 204
    assert as_admin.get(f"/api/v1/routing/rules/{bugs['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "pattern": "(unclosed"}, "invalid_pattern"),
        ({"name": ""}, "invalid_rule"),
        ({"name": "x", "channels": ["fax"]}, "invalid_rule"),
        ({"name": "x", "languages": ["french"]}, "invalid_rule"),
        ({"name": "x", "priority": 9}, "invalid_rule"),
        ({"name": "x", "team": 999999}, "invalid_rule"),
        ({"name": "x", "skills": [999999]}, "invalid_rule"),
        ({"name": "x", "colour": "red"}, "invalid_rule"),
    ],
)
def test_rule_validation(as_admin, body, code):
    response = as_admin.post("/api/v1/routing/rules", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not RoutingRule.objects.exists()


def test_admin_sets_skills_and_strategies(as_admin, agent, sms_inbox, team):
    a, b = Skill.objects.create(name="a"), Skill.objects.create(name="b")
    assert as_admin.put(f"/api/v1/agents/{agent.pk}/skills", {"skills": [a.pk, b.pk]}, format="json").json()[
        "skills"
    ] == [a.pk, b.pk]
    assert as_admin.put(f"/api/v1/agents/{agent.pk}/skills", {"skills": [b.pk]}, format="json").status_code == 200
    assert list(AgentSkill.objects.values_list("skill_id", flat=True)) == [b.pk]
    assert as_admin.get(f"/api/v1/agents/{agent.pk}/skills").json() == {"agent": agent.pk, "skills": [b.pk]}
    assert as_admin.post("/api/v1/routing/skills", {"name": "b"}, format="json").status_code == 409
    body = as_admin.patch(
        f"/api/v1/inboxes/{sms_inbox.pk}/routing",
        {"strategy": "least_busy", "queue_reply": True, "queue_reply_text": "You are #{position}"},
        format="json",
    ).json()
    row = next(i for i in body["inboxes"] if i["inbox"] == sms_inbox.pk)
    assert row["strategy"] == "least_busy" and row["queue_reply"] is True
    assert InboxRouting.objects.get(inbox=sms_inbox).queue_reply_text == "You are #{position}"
    assert (
        as_admin.patch(f"/api/v1/inboxes/{sms_inbox.pk}/routing", {"strategy": "random"}, format="json").status_code
        == 400
    )
    assert as_admin.put(f"/api/v1/teams/{team.pk}/routing", {"strategy": "skills"}, format="json").status_code == 200
    assert TeamRouting.objects.get(team=team).strategy == "skills"
    assert as_admin.put(f"/api/v1/teams/{team.pk}/routing", {"strategy": None}, format="json").status_code == 200
    assert not TeamRouting.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_conversation_queue_and_timeline_through_the_api(write, as_agent, rnd, agent, sms_inbox):
    sms_inbox.team = None
    sms_inbox.save(update_fields=["team"])
    RoutingRule.objects.create(name="Bugs", keywords=["crash"], team=rnd)
    conversation = write("it crashed")
    queue = as_agent.get(f"/api/v1/conversations/{conversation.pk}/queue")
    assert queue.status_code == 200 and queue.json()["position"] == 1 and queue.json()["waiting"] is True
    messages = as_agent.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    activities = [m for m in messages["results"] if m["kind"] == Message.Kind.ACTIVITY]
    assert [m["body"] for m in activities] == ["Routed to R&D: matched 'crashed' (rule “Bugs”)"]
    assert Conversation.objects.get(pk=conversation.pk).team_id == rnd.pk
