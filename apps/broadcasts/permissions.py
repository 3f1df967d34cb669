"""Who may send status broadcasts: the one place that says so — supervisors and admins
(apps.accounts.permissions), and Django superusers."""

from __future__ import annotations

from typing import Any

from apps.accounts.permissions import is_supervisor


def may_broadcast(agent: Any) -> bool:
    return bool(agent is not None and (agent.is_superuser or is_supervisor(agent)))
