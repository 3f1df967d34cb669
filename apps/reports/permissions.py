"""Who may see the reports, and which inboxes a search covers: the desk's roles
(apps.accounts.permissions) — supervisors and admins see the reports; a search covers the
inboxes the agent sees in the conversation list (for a supervisor also their teams' inboxes).
These two functions are the only places the reports and the search ask.
"""

from __future__ import annotations

from typing import Any

from apps.accounts import permissions
from apps.accounts.models import Agent


def can_see_reports(agent: Agent | Any) -> bool:
    """The reports page, its API and its CSV export."""
    return bool(agent.is_authenticated and agent.is_active and permissions.can_see_reports(agent))


def inbox_ids_visible(agent: Agent) -> list[int]:
    """The inboxes whose conversations (messages, notes, contacts) the agent finds."""
    return list(permissions.inboxes_visible(agent).order_by("id").values_list("id", flat=True))
