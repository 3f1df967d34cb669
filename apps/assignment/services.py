"""Who answers: presence, capacity and the assignment strategy (round robin, least busy,
skills-based; chosen per inbox or team in apps.dispatch).

Claims are atomic on PostgreSQL: the conversation row is locked by the caller, and candidate
agents' presence rows are locked (FOR UPDATE, in agent-id order) before their load is counted,
so two workers assigning at once never give one agent more than their capacity nor one
conversation two agents, and neither leaves a conversation waiting while an agent has room.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from apps.accounts.models import Agent, Inbox, Team
from apps.assignment.models import AgentPresence
from apps.assignment.tasks import assignment_drain_task
from apps.bus.events import EventType, event_append
from apps.conversations.events import emit_conversation, notify_assigned
from apps.conversations.models import Conversation
from apps.core import rawsql
from apps.core.errors import InvalidInput
from apps.dispatch.config import routing_config
from apps.dispatch.models import ConversationRouting, QueueWait, Strategy
from apps.dispatch.waits import wait_sample, waits_record, waits_statement

log = logging.getLogger(__name__)

ACTIVE_STATUSES = [Conversation.Status.OPEN, Conversation.Status.PENDING]


def _fresh_after(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=settings.PRESENCE_TTL_SECONDS)


def presence_get(*, agent_id: int) -> AgentPresence:
    presence, _ = AgentPresence.objects.get_or_create(agent_id=agent_id)
    return presence


def presence_data(presence: AgentPresence) -> dict:
    return {
        "agent": presence.agent_id,
        "status": presence.status,
        "last_seen_at": presence.last_seen_at.isoformat() if presence.last_seen_at else None,
    }


class AssignPool:
    """Candidates locked once for many assignments in one transaction (a bus batch).

    The first assignment in an inbox (and team) locks its candidates' presence rows and counts
    their load, as one alone does; the rest of the transaction reuses both, counting its own
    assignments, since nobody else can assign to a locked agent until commit. The presence rows'
    round-robin times are written once, by `flush`.
    """

    def __init__(self) -> None:
        self.pools: dict[tuple[int, int | None], tuple[list[AgentPresence], dict[int, int]]] = {}
        self.touched: dict[int, AgentPresence] = {}
        self.waits: list[QueueWait] = []

    def single(self) -> bool:
        """At most one round-robin time and one queue wait to write (see `statements`)."""
        return len(self.touched) <= 1 and len(self.waits) <= 1

    def statements(self) -> list[rawsql.Statement]:
        """PostgreSQL: what `flush` writes (the round-robin times, the queue waits) as statements
        for the caller to send with its own (apps.core.rawsql.run); the pool forgets them."""
        statements = []
        if self.touched:
            statements.append(rawsql.update_statement(list(self.touched.values()), ["last_assigned_at"]))
            self.touched.clear()
        if self.waits:
            statements.append(waits_statement(self.waits))
            self.waits.clear()
        return statements

    def flush(self) -> None:
        if rawsql.supported():
            single = self.single()
            statements = self.statements()
            if statements:
                rawsql.run(statements, prepare=single)  # one round trip
            return
        if self.touched:
            AgentPresence.objects.bulk_update(list(self.touched.values()), ["last_assigned_at"])
            self.touched.clear()
        waits_record(self.waits)
        self.waits.clear()


def _round_robin_key(now: dt.datetime) -> Callable[[AgentPresence], tuple]:
    # Whoever was assigned to longest ago (never: first), ties by id.
    return lambda p: (p.last_assigned_at is not None, p.last_assigned_at or now, p.agent_id)


def candidates_order(
    strategy: str,
    candidates: list[AgentPresence],
    loads: dict[int, int],
    now: dt.datetime,
    *,
    skills: frozenset[int] = frozenset(),
    agent_skills: dict[int, frozenset[int]] | None = None,
) -> list[AgentPresence]:
    """The agents with room, in the order the strategy offers the conversation to them.

    round_robin: whoever was given one longest ago. least_busy: fewest open conversations (then
    the most room left, then round robin). skills: only agents having every skill the
    conversation needs, least busy first.
    """
    rr = _round_robin_key(now)
    free = [p for p in candidates if loads.get(p.agent_id, 0) < p.agent.max_conversations]
    if strategy == Strategy.SKILLS and skills:
        held = agent_skills or {}
        free = [p for p in free if skills <= held.get(p.agent_id, frozenset())]
    if strategy in (Strategy.LEAST_BUSY, Strategy.SKILLS):
        return sorted(
            free,
            key=lambda p: (loads.get(p.agent_id, 0), -(p.agent.max_conversations - loads.get(p.agent_id, 0)), *rr(p)),
        )
    return sorted(free, key=rr)


def _required_skills(conversation: Conversation) -> frozenset[int]:
    routing = ConversationRouting.objects.filter(conversation_id=conversation.pk).values_list("skills", flat=True)
    return frozenset(int(x) for x in (routing.first() or []))


def _candidates(inbox: Inbox, team_id: int | None, now: dt.datetime) -> tuple[list[AgentPresence], dict[int, int]]:
    if rawsql.supported():
        return _candidates_sql(inbox, team_id, now)
    candidates = AgentPresence.objects.filter(
        status=AgentPresence.Status.ONLINE,
        last_seen_at__gte=_fresh_after(now),
        agent__is_active=True,
        agent__inboxes=inbox,
    )
    if team_id:
        candidates = candidates.filter(agent__teams=team_id)
    # Lock every candidate's presence row, always in agent-id order so that concurrent claims
    # queue behind each other instead of deadlocking. Waiting (not SKIP LOCKED) matters: a
    # claim that skipped the rows another claim holds would leave the conversation waiting
    # while the agents still have room. The rows read after the wait are current, so the
    # load counted below includes every claim that committed before.
    locked = list(candidates.select_for_update(of=("self",), no_key=True).select_related("agent").order_by("agent_id"))
    if not locked:
        return locked, {}
    loads = dict(
        Conversation.objects.filter(assignee_id__in=[p.agent_id for p in locked], status__in=ACTIVE_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    return locked, loads


_CANDIDATES_SQL: dict[bool, tuple[str, str]] = {}


def _candidates_sql(inbox: Inbox, team_id: int | None, now: dt.datetime) -> tuple[list[AgentPresence], dict[int, int]]:
    """`_candidates` by SQL written once (PostgreSQL; apps.core.rawsql): the same rows, locked
    the same way (presence rows only, in agent-id order), then their load counted by a second
    statement of the same round trip, whose snapshot is taken once the locks were granted."""
    with_team = bool(team_id)
    sqls = _CANDIDATES_SQL.get(with_team)
    if sqls is None:
        qn = rawsql.qn
        inbox_field = Inbox._meta.get_field("members")
        team_field = Team._meta.get_field("members")
        inbox_members = inbox_field.remote_field.through._meta.db_table  # type: ignore[union-attr]
        team_members = team_field.remote_field.through._meta.db_table  # type: ignore[union-attr]
        team_join = (
            f" JOIN {qn(team_members)} tm ON tm.{qn(team_field.m2m_reverse_name())} = a.id"  # type: ignore[union-attr]
            f" AND tm.{qn(team_field.m2m_column_name())} = %s"  # type: ignore[union-attr]
            if with_team
            else ""
        )
        candidates = (
            f" FROM {qn(AgentPresence._meta.db_table)} t"
            f" JOIN {qn(Agent._meta.db_table)} a ON a.id = t.agent_id"
            f" JOIN {qn(inbox_members)} im ON im.{qn(inbox_field.m2m_reverse_name())} = a.id"  # type: ignore[union-attr]
            f" AND im.{qn(inbox_field.m2m_column_name())} = %s{team_join}"  # type: ignore[union-attr]
            " WHERE t.status = %s AND t.last_seen_at >= %s AND a.is_active"
        )
        sqls = (
            f"SELECT {rawsql.columns_sql(AgentPresence, 't')}, {rawsql.columns_sql(Agent, 'a')}{candidates}"
            " ORDER BY t.agent_id FOR NO KEY UPDATE OF t",
            # The same candidates and their load, for the same round trip.
            f"SELECT t.agent_id, (SELECT count(*) FROM {qn(Conversation._meta.db_table)} c"
            f" WHERE c.assignee_id = t.agent_id AND c.status = ANY(%s::text[])){candidates}",
        )
        _CANDIDATES_SQL[with_team] = sqls
    filters = [inbox.pk, *([team_id] if with_team else []), AgentPresence.Status.ONLINE, _fresh_after(now)]
    # One round trip; the count's snapshot is taken once the first statement's locks are granted
    # (each statement has its own: apps.core.rawsql.run).
    rows, counts = rawsql.run([(sqls[0], filters), (sqls[1], [[str(s) for s in ACTIVE_STATUSES], *filters])])
    if not rows:
        return [], {}
    locked = rawsql.instances_joined(AgentPresence, Agent, "agent", rows, ("t", "a"))
    loads = dict(counts)
    # An agent locked but no longer a candidate when counted (taken off the inbox or team, or
    # deactivated, in between) is not offered the conversation.
    locked = [p for p in locked if p.agent_id in loads]
    return locked, loads


def conversation_auto_assign(
    *,
    conversation: Conversation,
    emit: bool = True,
    pool: AssignPool | None = None,
    skills: frozenset[int] | None = None,
    write: bool = True,
) -> Agent | None:
    """Give a waiting conversation to the online agent with capacity whose turn it is.

    With `emit`, the change and the assignee's notification are published here; without, the
    caller publishes both. The caller holds the conversation row lock. Returns the agent, or None when nobody is
    available (the conversation then waits in the queue). With a `pool`, candidates locked and
    counted earlier in the transaction are reused (the caller flushes the pool before commit).
    `skills` are the skills routing requires (read from the conversation's routing when None and
    the strategy needs them). Who gets it depends on the inbox's or team's strategy. Without
    `write`, only `conversation.assignee` is set: the caller saves the conversation (its
    `assignee` with it) before commit.
    """
    if conversation.assignee_id or conversation.status != Conversation.Status.OPEN or conversation.noise:
        return None  # noise (triage) waits in nobody's queue
    inbox = conversation.inbox
    if not inbox.auto_assign:
        return None
    now = timezone.now()
    team_id = conversation.team_id or inbox.team_id
    key = (inbox.pk, team_id)
    if pool is not None and key in pool.pools:
        locked, loads = pool.pools[key]
    else:
        locked, loads = _candidates(inbox, team_id, now)
        if pool is not None:
            pool.pools[key] = (locked, loads)
    if not locked:
        return None
    config = routing_config()
    strategy = config.strategy(inbox.pk, team_id)
    if strategy == Strategy.SKILLS and skills is None:
        skills = _required_skills(conversation)
    ordered = candidates_order(
        strategy, locked, loads, now, skills=skills or frozenset(), agent_skills=config.agent_skills
    )
    for presence in ordered:
        if write:
            Conversation.objects.filter(pk=conversation.pk).update(assignee=presence.agent_id)
        conversation.assignee = presence.agent
        loads[presence.agent_id] = loads.get(presence.agent_id, 0) + 1
        presence.last_assigned_at = now
        sample = wait_sample(inbox_id=inbox.pk, team_id=team_id, waiting_since=conversation.waiting_since, now=now)
        if pool is not None:
            pool.touched[presence.pk] = presence
            pool.waits.append(sample)
        else:
            presence.save(update_fields=["last_assigned_at"])
            waits_record([sample])
        if emit:
            emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=["assignee"])
            notify_assigned(conversation=conversation)
        return presence.agent
    return None


def assignment_drain(*, limit: int = 100) -> int:
    """Assign waiting conversations, most urgent first, then oldest wait. Returns how many were assigned.

    Only inboxes with an online agent are looked at: a backlog in an inbox nobody is online for
    must not fill the batch and starve the inboxes whose agents have room.
    """

    staffed = Inbox.objects.filter(
        auto_assign=True,
        members__is_active=True,
        members__presence__status=AgentPresence.Status.ONLINE,
        members__presence__last_seen_at__gte=_fresh_after(timezone.now()),
    ).values("id")
    waiting = list(
        Conversation.objects.filter(
            assignee__isnull=True, status=Conversation.Status.OPEN, noise=False, inbox__in=staffed
        )
        .order_by("-priority", F("waiting_since").asc(nulls_last=True), "id")
        .values_list("id", flat=True)[:limit]
    )
    assigned = 0
    for conversation_id in waiting:
        with transaction.atomic():
            # Wait for a row another transaction holds (rather than skip it and leave it
            # waiting); the filter is checked again after the wait.
            conversation = (
                Conversation.objects.select_for_update(of=("self",), no_key=True)
                .select_related("inbox")
                .filter(pk=conversation_id, assignee__isnull=True, status=Conversation.Status.OPEN, noise=False)
                .first()
            )
            if conversation and conversation_auto_assign(conversation=conversation):
                assigned += 1
    return assigned


def _after_commit_drain() -> None:

    transaction.on_commit(lambda: assignment_drain_task.delay())


@transaction.atomic
def presence_set(*, agent_id: int, status: str) -> AgentPresence:
    """The agent picks online / away / offline."""
    if status not in AgentPresence.Status.values:
        raise InvalidInput(f"unknown presence {status!r}", code="invalid_presence")
    presence = presence_get(agent_id=agent_id)
    presence = AgentPresence.objects.select_for_update(no_key=True).get(pk=presence.pk)
    previous = presence.status
    presence.chosen_status = status
    presence.status = status
    presence.last_seen_at = timezone.now()
    presence.save(update_fields=["chosen_status", "status", "last_seen_at", "updated_at"])
    if previous != status:
        event_append(type=EventType.PRESENCE_UPDATED, data=presence_data(presence))
        if status == AgentPresence.Status.ONLINE:
            _after_commit_drain()
        elif status == AgentPresence.Status.OFFLINE:
            conversations_requeue(agent_id=agent_id)
    return presence


@transaction.atomic
def presence_heartbeat(*, agent_id: int) -> AgentPresence:
    """A console of this agent is connected. Brings an expired agent back to what they chose."""
    presence = presence_get(agent_id=agent_id)
    presence = AgentPresence.objects.select_for_update(no_key=True).get(pk=presence.pk)
    previous = presence.status
    presence.last_seen_at = timezone.now()
    presence.status = presence.chosen_status
    presence.save(update_fields=["status", "last_seen_at", "updated_at"])
    if previous != presence.status:
        event_append(type=EventType.PRESENCE_UPDATED, data=presence_data(presence))
        if presence.status == AgentPresence.Status.ONLINE:
            _after_commit_drain()
    return presence


def presence_expire() -> int:
    """Agents whose consoles stopped beating go offline; their conversations return to the queue."""
    stale = list(
        AgentPresence.objects.filter(
            ~Q(status=AgentPresence.Status.OFFLINE), last_seen_at__lt=_fresh_after(timezone.now())
        ).values_list("agent_id", flat=True)
    )
    for agent_id in stale:
        with transaction.atomic():
            presence = AgentPresence.objects.select_for_update(no_key=True).get(agent_id=agent_id)
            if presence.status == AgentPresence.Status.OFFLINE or (
                presence.last_seen_at and presence.last_seen_at >= _fresh_after(timezone.now())
            ):
                continue
            presence.status = AgentPresence.Status.OFFLINE
            presence.save(update_fields=["status", "updated_at"])
            event_append(type=EventType.PRESENCE_UPDATED, data=presence_data(presence))
            conversations_requeue(agent_id=agent_id)
    return len(stale)


def conversations_requeue(*, agent_id: int) -> int:
    """Return an offline agent's open conversations to the queue and hand them out again."""

    ids = list(
        Conversation.objects.filter(assignee_id=agent_id, status=Conversation.Status.OPEN).values_list("id", flat=True)
    )
    for conversation in Conversation.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("id"):
        conversation.assignee = None
        conversation.save(update_fields=["assignee"])
        emit_conversation(conversation, EventType.CONVERSATION_UPDATED, changes=["assignee"])
    if ids:
        _after_commit_drain()
    return len(ids)
