"""Who may see the reports, and which inboxes a search covers.

The supervisor role arrives with issue 13's `sla` branch (apps.accounts.permissions). Until it
is on main, the reports are for admins (Agent.Role.ADMIN) only; once it lands, point
`can_see_reports` at apps.accounts.permissions.can_see_reports (supervisors and admins) and
`inbox_ids_visible` at apps.accounts.permissions.inboxes_visible: these two functions are the
only places the reports and the search ask.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Agent, Inbox


def can_see_reports(agent: Agent | Any) -> bool:
    """The reports page, its API and its CSV export."""
    return bool(agent.is_authenticated and agent.is_active and getattr(agent, "role", None) == Agent.Role.ADMIN)


def inbox_ids_visible(agent: Agent) -> list[int]:
    """The inboxes whose conversations (messages, notes, contacts) the agent finds: the same rule
    as the conversation list (apps.api.selectors.conversations_visible: the inboxes they are a
    member of)."""
    return list(Inbox.objects.filter(members=agent).order_by("id").values_list("id", flat=True))
