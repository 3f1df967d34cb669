"""What each role may do: the one place the API, the console and other apps ask.

Roles, from the least to the most: agent < supervisor < admin.
- agent: the conversations of the inboxes they are a member of; may give out an unassigned
  conversation and hand on or drop their own, not move a colleague's.
- supervisor: also every inbox of their teams (Inbox.team), the reports, and may reassign any
  conversation they can see.
- admin: everything a supervisor may, plus the desk's configuration (SLA policies, business
  hours, macros).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accounts.models import Agent, Inbox


def is_supervisor(agent: Agent) -> bool:
    """A supervisor or an admin (an admin may do everything a supervisor may)."""
    return agent.is_authenticated and agent.role in (Agent.Role.SUPERVISOR, Agent.Role.ADMIN)


def is_admin(agent: Agent) -> bool:
    return agent.is_authenticated and agent.role == Agent.Role.ADMIN


def can_see_reports(agent: Agent) -> bool:
    """The reports page and its API (supervisors and admins)."""
    return is_supervisor(agent)


def can_manage_desk(agent: Agent) -> bool:
    """Configure the desk: SLA policies, business hours, holidays, macros (admins)."""
    return is_admin(agent)


def can_assign(agent: Agent, *, current_assignee_id: int | None, new_assignee_id: int | None) -> bool:
    """May `agent` change a conversation's assignee from `current` to `new`?

    Everyone may give out an unassigned conversation (take it, or pass it to a colleague of the
    inbox) and hand on or drop one of their own; moving a conversation that belongs to a
    colleague (taking it over included) is a supervisor's call."""
    if is_supervisor(agent):
        return True
    return current_assignee_id is None or current_assignee_id == agent.pk


def inboxes_visible(agent: Agent | int) -> QuerySet[Inbox]:
    """The inboxes whose conversations the agent sees: the ones they are a member of, and for a
    supervisor or admin also every inbox of their teams."""
    if isinstance(agent, int):
        agent = Agent.objects.only("id", "role").get(pk=agent)
    member = Q(pk__in=Inbox.members.through.objects.filter(agent_id=agent.pk).values("inbox_id"))
    if not is_supervisor(agent):
        return Inbox.objects.filter(member)
    teams = Agent.teams.through.objects.filter(agent_id=agent.pk).values("team_id")
    return Inbox.objects.filter(member | Q(team_id__in=teams))


def inbox_scope(agent: Agent, *, field: str = "inbox") -> Q:
    """A filter on `<field>` (an Inbox foreign key) to the inboxes the agent sees. For an agent it
    is the plain membership join it always was (the list's query plans do not change)."""
    if is_supervisor(agent):
        return Q(**{f"{field}__in": inboxes_visible(agent).values("pk")})
    return Q(**{f"{field}__members": agent})
