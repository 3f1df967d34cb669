"""Where a waiting customer stands: their place in the queue and the expected wait.

The queue of a conversation is its inbox's (and team's) open, unassigned conversations, in the
order the assignment drain hands them out: most urgent first, then longest waiting, then id.
The expected wait comes from the recent waits (apps.dispatch.models.QueueWait): how fast this
queue was handed out lately (assignments per minute over a window) applied to the place; with
too few recent assignments, the median recent wait per place ahead; with none, unknown.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.assignment.models import AgentPresence
from apps.conversations.models import Conversation
from apps.dispatch.models import QueueWait

RATE_WINDOW = dt.timedelta(minutes=60)  # assignments counted for the queue's pace
HISTORY_WINDOW = dt.timedelta(hours=24)  # waits looked at when the last hour is too quiet
MIN_RATE_SAMPLES = 3
MAX_SAMPLES = 200


@dataclass(frozen=True)
class QueueStatus:
    waiting: bool  # False: an agent has it (or it is not open)
    position: int | None  # 1 = next
    ahead: int
    expected_wait_seconds: int | None
    agents_online: int

    def data(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "position": self.position,
            "ahead": self.ahead,
            "expected_wait_seconds": self.expected_wait_seconds,
            "agents_online": self.agents_online,
        }


def expected_wait_seconds(
    *, position: int, recent: list[tuple[dt.datetime, int]], now: dt.datetime, agents_online: int
) -> int | None:
    """The expected wait of the `position`-th in the queue, from recent (assigned_at, waited)
    samples of the queue, newest first. None when nothing is known or nobody is online."""
    if position < 1 or agents_online < 1:
        return None
    in_window = [s for s in recent if s[0] >= now - RATE_WINDOW]
    if len(in_window) >= MIN_RATE_SAMPLES:
        oldest = min(s[0] for s in in_window)
        span = max((now - oldest).total_seconds(), 60.0)
        per_second = len(in_window) / span
        return int(math.ceil(position / per_second))
    waits = [w for _, w in recent]
    if not waits:
        return None
    return int(math.ceil(statistics.median(waits) * position))


def _queue(conversation: Conversation) -> Any:
    team_id = conversation.team_id
    return Conversation.objects.filter(
        inbox_id=conversation.inbox_id,
        assignee__isnull=True,
        status=Conversation.Status.OPEN,
        **({"team_id": team_id} if team_id else {"team__isnull": True}),
    )


def queue_status(conversation: Conversation, *, now: dt.datetime | None = None) -> QueueStatus:
    """Three queries: the place, the online agents, the recent waits."""
    now = now or timezone.now()
    if conversation.assignee_id is not None or conversation.status != Conversation.Status.OPEN:
        return QueueStatus(waiting=False, position=None, ahead=0, expected_wait_seconds=None, agents_online=0)
    since = conversation.waiting_since or conversation.created_at or now
    ahead_q = (
        Q(priority__gt=conversation.priority)
        | Q(priority=conversation.priority, waiting_since__lt=since)
        | Q(priority=conversation.priority, waiting_since=since, id__lt=conversation.pk)
    )
    ahead = _queue(conversation).filter(ahead_q).count()
    online = AgentPresence.objects.filter(
        status=AgentPresence.Status.ONLINE,
        last_seen_at__gte=now - dt.timedelta(seconds=settings.PRESENCE_TTL_SECONDS),
        agent__is_active=True,
        agent__inboxes=conversation.inbox_id,
    )
    if conversation.team_id:
        online = online.filter(agent__teams=conversation.team_id)
    agents_online = online.count()
    recent_q = QueueWait.objects.filter(inbox_id=conversation.inbox_id, assigned_at__gte=now - HISTORY_WINDOW)
    if conversation.team_id:
        recent_q = recent_q.filter(team_id=conversation.team_id)
    recent = list(recent_q.order_by("-assigned_at").values_list("assigned_at", "waited_seconds")[:MAX_SAMPLES])
    position = ahead + 1
    return QueueStatus(
        waiting=True,
        position=position,
        ahead=ahead,
        expected_wait_seconds=expected_wait_seconds(
            position=position, recent=recent, now=now, agents_online=agents_online
        ),
        agents_online=agents_online,
    )


def wait_words(seconds: int | None) -> str:
    """ "about 5 minutes", "less than a minute", "" (unknown)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute"
    minutes = int(round(seconds / 60))
    if minutes < 90:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60, 1)
    return f"about {hours:g} hours"


DEFAULT_QUEUE_REPLY = "Thanks for your message. You are number {position} in the queue{wait}; an agent will reply soon."


def queue_reply_text(template: str, status: QueueStatus) -> str:
    """The automatic reply's words; {position} and {wait} are filled in."""
    words = wait_words(status.expected_wait_seconds)
    text = (template or DEFAULT_QUEUE_REPLY).replace("{position}", str(status.position or 1))
    if template:
        return text.replace("{wait}", words or "a short while")
    return text.replace("{wait}", f" (expected wait: {words})" if words else "")
