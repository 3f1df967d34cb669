from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from apps.accounts.models import Agent, Inbox, Team


@transaction.atomic
def agent_create(
    *,
    username: str,
    password: str,
    email: str = "",
    display_name: str = "",
    is_admin: bool = False,
    role: str | None = None,
    inboxes: list[Inbox] | None = None,
    teams: list[Team] | None = None,
    max_conversations: int = 10,
) -> tuple[Agent, str]:
    """Create (or update) an agent; returns the agent and their API token."""
    agent, _ = Agent.objects.get_or_create(username=username)
    agent.email = email or agent.email
    agent.display_name = display_name or agent.display_name
    agent.role = role or (Agent.Role.ADMIN if is_admin else Agent.Role.AGENT)
    if agent.role not in Agent.Role.values:
        raise ValueError(f"unknown role {agent.role!r}")
    agent.is_staff = agent.is_superuser = agent.role == Agent.Role.ADMIN
    agent.max_conversations = max_conversations
    agent.set_password(password)
    agent.save()
    for inbox in inboxes or []:
        inbox.members.add(agent)
    for team in teams or []:
        team.members.add(agent)
    token, _ = Token.objects.get_or_create(user=agent)
    return agent, token.key
