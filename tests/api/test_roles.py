"""Each API route as each role: agent, supervisor, admin (apps.accounts.permissions).

The world: team Support has two inboxes, Main SMS (everyone is a member) and Billing SMS (nobody
is). Agents see what their inboxes show; supervisors and admins also every inbox of their teams
and may reassign; only admins change the desk's settings (SLA, business hours, macros).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.console.selectors import agent_access, conversation_visible
from apps.contacts.models import Contact
from apps.conversations.models import Conversation
from apps.macros.models import Macro
from apps.sla.models import BusinessCalendar, EscalationRule, Holiday, SlaPolicy
from tests.factories import AgentFactory, ContactFactory, ConversationFactory, InboxFactory

pytestmark = pytest.mark.django_db

ROLES = ("agent", "supervisor", "admin")


@dataclass
class World:
    ids: dict[str, int]
    colleague: Agent


@pytest.fixture
def world(sms_inbox, team) -> World:
    billing = InboxFactory(name="Billing SMS", team=team)
    colleague = AgentFactory(username="ben", display_name="Ben")
    sms_inbox.members.add(colleague)
    team.members.add(colleague)
    own = ConversationFactory(inbox=sms_inbox, contact=ContactFactory(name="Zoe"), team=team, assignee=colleague)
    hidden_contact = ContactFactory(name="Yan")
    hidden = ConversationFactory(inbox=billing, contact=hidden_contact, team=team)
    policy = SlaPolicy.objects.create(name="P", first_response_minutes=10)
    macro = Macro.objects.create(name="Tag", add_labels=["vip"])
    ids = {
        "own": own.pk,
        "hidden": hidden.pk,
        "hidden_contact": hidden_contact.pk,
        "billing": billing.pk,
        "colleague": colleague.pk,
        "policy": policy.pk,
        "calendar": BusinessCalendar.objects.create(name="Desk", tz="UTC").pk,
        "holiday": Holiday.objects.create(date="2030-12-25", name="Christmas").pk,
        "escalation": EscalationRule.objects.create(policy=policy, target="resolution", action="notify").pk,
        "macro": macro.pk,
    }
    return World(ids, colleague)


def client_as(role: str, team, sms_inbox) -> tuple[APIClient, Agent]:
    me = AgentFactory(username=f"me-{role}", display_name="Me", role=role)
    sms_inbox.members.add(me)
    team.members.add(me)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=me).key}")
    return client, me


A, S, M = "agent", "supervisor", "admin"


def allowed(ok: int, *roles: str, denied: int = 403) -> dict[str, int]:
    return {role: ok if role in roles else denied for role in ROLES}


ROUTES: list[tuple[str, str, Any, dict[str, int]]] = [
    # Seeing the team's other inboxes.
    ("GET", "/api/v1/conversations/{hidden}", None, allowed(200, S, M, denied=404)),
    ("GET", "/api/v1/conversations/{hidden}/messages", None, allowed(200, S, M, denied=404)),
    ("POST", "/api/v1/conversations/{hidden}/read", {}, allowed(200, S, M, denied=404)),
    ("PATCH", "/api/v1/conversations/{hidden}", {"priority": 3}, allowed(200, S, M, denied=404)),
    ("GET", "/api/v1/contacts/{hidden_contact}", None, allowed(200, S, M, denied=404)),
    ("GET", "/api/v1/contacts/{hidden_contact}/conversations", None, allowed(200, S, M, denied=404)),
    (
        "POST",
        "/api/v1/conversations/{hidden}/macros",
        {"macro": "{macro}", "client_id": "x"},
        allowed(201, S, M, denied=404),
    ),
    # Reassigning a colleague's conversation.
    ("PATCH", "/api/v1/conversations/{own}", {"assignee": None}, allowed(200, S, M)),
    ("PATCH", "/api/v1/conversations/{own}", {"priority": 2}, allowed(200, A, S, M)),
    ("POST", "/api/v1/conversations/{own}/macros", {"macro": "{macro}", "client_id": "x"}, allowed(201, A, S, M)),
    # The desk's settings: everyone reads, admins write.
    *[
        row
        for name, key, body in (
            ("sla/policies", "policy", {"name": "New", "resolution_minutes": 60}),
            (
                "sla/calendars",
                "calendar",
                {"name": "Paris", "tz": "Europe/Paris", "week": {"mon": [["09:00", "17:00"]]}},
            ),
            ("sla/holidays", "holiday", {"date": "2031-01-01", "name": "New year"}),
            ("sla/escalations", "escalation", {"policy": "{policy}", "target": "first_response", "action": "notify"}),
            ("macros", "macro", {"name": "Close", "status": "resolved"}),
        )
        for row in (
            ("GET", f"/api/v1/{name}", None, allowed(200, A, S, M)),
            ("POST", f"/api/v1/{name}", body, allowed(201, M)),
            ("PATCH", f"/api/v1/{name}/{{{key}}}", {}, allowed(200, M)),
            ("DELETE", f"/api/v1/{name}/{{{key}}}", None, allowed(204, M)),
        )
    ],
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), ROUTES, ids=[f"{m} {p} {sorted(b or {})}" for m, p, b, _ in ROUTES]
)
def test_route_as_role(world, team, sms_inbox, role, method, path, body, expected):
    client, _ = client_as(role, team, sms_inbox)
    url = path.format(**world.ids)
    response = getattr(client, method.lower())(url, _fill(body, world.ids), format="json")
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert "code" in response.json()["error"]


@pytest.mark.parametrize("role", ROLES)
def test_the_list_and_inboxes_show_the_teams_inboxes_to_supervisors_only(world, team, sms_inbox, role):
    client, me = client_as(role, team, sms_inbox)
    listed = {c["id"] for c in client.get("/api/v1/conversations").json()["results"]}
    inboxes = {i["id"] for i in client.get("/api/v1/inboxes").json()["results"]}
    supervises = role != "agent"
    assert listed == ({world.ids["own"], world.ids["hidden"]} if supervises else {world.ids["own"]})
    assert (world.ids["billing"] in inboxes) is supervises
    me_data = client.get("/api/v1/me").json()
    assert me_data["role"] == role
    assert me_data["permissions"] == {"reassign": supervises, "reports": supervises, "manage": role == "admin"}
    # The console's socket follows the same inboxes (apps.console.selectors).
    active, inbox_ids = agent_access(agent_id=me.pk)
    assert active and (world.ids["billing"] in inbox_ids) is supervises
    assert conversation_visible(agent_id=me.pk, conversation_id=world.ids["hidden"]) is supervises


def test_an_agent_may_give_out_an_unassigned_conversation_and_drop_their_own(world, team, sms_inbox):
    client, me = client_as("agent", team, sms_inbox)
    free = ConversationFactory(inbox=sms_inbox, contact=Contact.objects.create(name="Xia"))
    url = f"/api/v1/conversations/{free.pk}"
    assert client.patch(url, {"assignee": world.colleague.pk}, format="json").status_code == 200
    assert client.patch(url, {"assignee": me.pk}, format="json").status_code == 403
    Conversation.objects.filter(pk=free.pk).update(assignee=me)
    assert client.patch(url, {"assignee": world.colleague.pk}, format="json").status_code == 200
    assert Conversation.objects.get(pk=free.pk).assignee_id == world.colleague.pk
