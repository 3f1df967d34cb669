"""Who may send status broadcasts: the one place that says so.

Until the supervisor role lands (issue 13, helper `sla`), admins only; then this function
becomes "admin or supervisor" and nothing else changes."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Agent


def may_broadcast(agent: Any) -> bool:
    return bool(agent is not None and (getattr(agent, "role", None) == Agent.Role.ADMIN or agent.is_superuser))
