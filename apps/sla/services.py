"""Service levels: each conversation's clock, kept from the event log, and breaches.

The clocks follow the event log (conversation.created / .updated, message.created) from a kept
position, in id order, so nothing in the receive or send paths has to call this app: a
conversation's clock is started, paused (pending: waiting on the customer), resumed, met and
restarted (reopened: a new cycle) from what those services already record. The bus sweep
(registered in apps.sla.apps) catches the clocks up and records breaches; a breach is a row
unique on (conversation, target, cycle), written in the same transaction as its escalation, so
an escalation runs exactly once however many sweeps race.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from apps.accounts.models import Agent
from apps.bus.events import EventType, event_append
from apps.bus.models import Event
from apps.conversations.events import emit_message, emit_notifications
from apps.conversations.models import Conversation
from apps.conversations.services import conversation_update
from apps.conversations.services.timeline import activity_add
from apps.core.errors import InvalidInput, NotFound
from apps.sla.calendar import Calendar
from apps.sla.events import NOTIFY_KIND, SlaEvent, sla_data
from apps.sla.models import (
    BusinessCalendar,
    ConversationSla,
    EscalationRule,
    Holiday,
    SlaBreach,
    SlaPolicy,
    SlaPosition,
    Target,
)

log = logging.getLogger(__name__)

EVENT_BATCH = 500
FOLLOWED = (EventType.CONVERSATION_CREATED, EventType.CONVERSATION_UPDATED, EventType.MESSAGE_CREATED)


# --- calendars and policies ------------------------------------------------------------------


def calendar_for(*, team_id: int | None) -> Calendar:
    """The business hours that apply to a team's conversations: its own calendar if it has one,
    else the desk's; with neither, around the clock. Holidays: the calendar's and the global ones."""
    return business_calendar(team_id=team_id) or Calendar()


def business_calendar(*, team_id: int | None) -> Calendar | None:
    """The team's calendar, else the desk's; None when the desk has set no business hours."""
    # One query: the team's calendar sorts before the desk's.
    rows = BusinessCalendar.objects.filter(
        Q(team__isnull=True) | Q(team_id=team_id) if team_id else Q(team__isnull=True)
    )
    row = rows.order_by(F("team_id").asc(nulls_last=True)).first()
    if row is None:
        return None
    holidays = frozenset(
        Holiday.objects.filter(Q(calendar=row) | Q(calendar__isnull=True)).values_list("date", flat=True)
    )
    return Calendar(tz=row.tz, week=row.week or {}, holidays=holidays)


class _Context:
    """Calendars and policies read once per sweep."""

    def __init__(self) -> None:
        self.calendars: dict[int | None, Calendar] = {}
        self.policies = list(SlaPolicy.objects.filter(active=True).order_by("id"))

    def calendar(self, team_id: int | None, policy: SlaPolicy | None) -> Calendar:
        if policy is not None and not policy.business_hours:
            return Calendar()
        if team_id not in self.calendars:
            self.calendars[team_id] = calendar_for(team_id=team_id)
        return self.calendars[team_id]

    def policy(self, *, inbox_id: int, team_id: int | None, priority: int) -> SlaPolicy | None:
        return policy_match(self.policies, inbox_id=inbox_id, team_id=team_id, priority=priority)


def policy_match(policies: list[SlaPolicy], *, inbox_id: int, team_id: int | None, priority: int) -> SlaPolicy | None:
    """The most specific policy that matches: a set priority beats a set team beats a set inbox;
    among equals the oldest."""
    fits = [
        p
        for p in policies
        if (p.inbox_id is None or p.inbox_id == inbox_id)
        and (p.team_id is None or p.team_id == team_id)
        and (p.priority is None or p.priority == priority)
    ]
    if not fits:
        return None
    return max(fits, key=lambda p: (p.priority is not None, p.team_id is not None, p.inbox_id is not None, -p.pk))


# --- one clock -----------------------------------------------------------------------------


def _due(row: ConversationSla, cal: Calendar, minutes: int | None) -> dt.datetime | None:
    if minutes is None:
        return None
    return cal.add(row.started_at, minutes * 60 + row.paused_seconds)


def _retarget(row: ConversationSla, cal: Calendar) -> None:
    """Due times from the policy, the start and the time paused; then the next one due."""
    policy = row.policy
    row.first_response_due_at = _due(row, cal, policy.first_response_minutes if policy else None)
    row.resolution_due_at = _due(row, cal, policy.resolution_minutes if policy else None)
    _next(row)


def _next(row: ConversationSla) -> None:
    candidates: list[tuple[dt.datetime, str]] = []
    if row.paused_at is None and row.resolved_at is None:
        if row.first_response_due_at and row.first_responded_at is None:
            candidates.append((row.first_response_due_at, Target.FIRST_RESPONSE))
        if row.resolution_due_at:
            candidates.append((row.resolution_due_at, Target.RESOLUTION))
    if candidates:
        row.next_due_at, row.next_target = min(candidates)
    else:
        row.next_due_at, row.next_target = None, ""
    # What the breach sweep looks at: only targets not yet recorded as breached, so a breached
    # clock is not read again every sweep.
    unrecorded = [
        due
        for due, target in candidates
        if not (row.first_response_breached if target == Target.FIRST_RESPONSE else row.resolution_breached)
    ]
    row.check_at = min(unrecorded) if unrecorded else None


def _start(row: ConversationSla, at: dt.datetime) -> None:
    row.started_at = at
    row.paused_at = None
    row.paused_seconds = 0
    row.first_responded_at = None
    row.resolved_at = None
    row.first_response_breached = row.resolution_breached = False


@dataclass
class _Change:
    row: ConversationSla
    inbox_id: int
    changed: bool = False
    shown: bool = False  # the consoles are told (only clocks with a policy, or that lost one)


def _apply(ctx: _Context, event: Event, rows: dict[int, _Change]) -> None:
    """Move one conversation's clock by one event."""
    data: dict[str, Any] = event.data or {}
    conversation_id = event.conversation_id
    if conversation_id is None:
        return
    at = event.created_at
    if event.type == EventType.MESSAGE_CREATED:
        if data.get("direction") != "out" or data.get("kind") != "message" or not data.get("sender"):
            return  # only an agent's reply to the customer answers them
        change = rows.get(conversation_id) or _load(conversation_id, rows)
        if change is None:
            return
        row = change.row
        if row.first_responded_at is None and row.resolved_at is None:
            row.first_responded_at = _parse(data.get("created_at")) or at
            _next(row)
            change.changed = change.shown = row.policy_id is not None or change.shown
        return
    status, team_id, priority, inbox_id = (
        data.get("status"),
        data.get("team"),
        data.get("priority") or 0,
        data.get("inbox"),
    )
    if inbox_id is None:
        return
    change = rows.get(conversation_id) or _load(conversation_id, rows)
    if change is None:
        start = _parse(data.get("waiting_since")) or _parse(data.get("last_activity_at")) or at
        row = ConversationSla(conversation_id=conversation_id, started_at=start)
        change = rows[conversation_id] = _Change(row, inbox_id, changed=True)
        if status == Conversation.Status.RESOLVED:
            row.resolved_at = at
        elif status == Conversation.Status.PENDING:
            row.paused_at = at
    row = change.row
    changes = set(data.get("changes") or [])
    policy = ctx.policy(inbox_id=inbox_id, team_id=team_id, priority=priority)
    cal = ctx.calendar(team_id, policy)
    if event.type == EventType.CONVERSATION_UPDATED and "status" in changes:
        if status == Conversation.Status.RESOLVED and row.resolved_at is None:
            if row.paused_at is not None:
                row.paused_seconds += int(cal.between(row.paused_at, at))
                row.paused_at = None
            row.resolved_at = at
        elif status == Conversation.Status.PENDING and row.paused_at is None and row.resolved_at is None:
            row.paused_at = at
        elif status in (Conversation.Status.OPEN, Conversation.Status.SNOOZED):
            if row.resolved_at is not None:
                row.cycle += 1  # reopened: a new first response and resolution are owed
                _start(row, at)
            elif row.paused_at is not None:
                row.paused_seconds += int(max(0.0, cal.between(row.paused_at, at)))
                row.paused_at = None
        change.changed = True
    if changes & {"team", "priority"}:
        change.changed = True  # another policy or another team's calendar may apply
    if policy != row.policy or change.changed:
        if policy is not None or row.policy_id is not None:
            change.shown = True  # lists show (or stop showing) a due time
        row.policy = policy
        _retarget(row, cal)
        change.changed = True


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _load(conversation_id: int, rows: dict[int, _Change]) -> _Change | None:
    # Locked until the batch commits: a breach being recorded meanwhile is not overwritten.
    row = (
        ConversationSla.objects.select_for_update(of=("self",))
        .select_related("policy")
        .filter(conversation_id=conversation_id)
        .first()
    )
    if row is None:
        return None
    inbox_id = Conversation.objects.filter(pk=conversation_id).values_list("inbox_id", flat=True).first()
    rows[conversation_id] = _Change(row, inbox_id or 0)
    return rows[conversation_id]


# --- the sweep -------------------------------------------------------------------------------


def sla_clocks_catch_up(*, batch: int = EVENT_BATCH) -> int:
    """Read the event log from the kept position and move the clocks; returns events read.
    One transaction per batch, the position row locked: two sweeps never apply an event twice."""
    total = 0
    ctx = _Context()
    while True:
        with transaction.atomic():
            position, _ = SlaPosition.objects.select_for_update().get_or_create(pk=1)
            newest = Event.objects.aggregate(m=Max("id"))["m"] or 0
            events = list(
                Event.objects.filter(id__gt=position.event_id, id__lte=newest, type__in=FOLLOWED).order_by("id")[:batch]
            )
            rows: dict[int, _Change] = {}
            for event in events:
                _apply(ctx, event, rows)
            changed = [c for c in rows.values() if c.changed]
            for change in changed:
                change.row.save()
                if not change.shown:
                    continue
                event_append(
                    type=SlaEvent.UPDATED,
                    data={"conversation": change.row.conversation_id, "sla": sla_data(change.row)},
                    conversation_id=change.row.conversation_id,
                    inbox_id=change.inbox_id,
                )
            position.event_id = events[-1].id if len(events) == batch else newest
            position.save(update_fields=["event_id"])
        total += len(events)
        if len(events) < batch:
            return total


def sla_breaches_record(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Record every target missed by now and run its escalations; returns breaches recorded."""
    now = now or timezone.now()
    due = list(
        ConversationSla.objects.filter(check_at__lte=now, policy__isnull=False)
        .order_by("check_at")
        .values_list("conversation_id", flat=True)[:limit]
    )
    recorded = 0
    for conversation_id in due:
        row = ConversationSla.objects.select_related("policy").get(pk=conversation_id)
        for target, due_at in _missed(row, now):
            recorded += sla_breach_record(row=row, target=target, due_at=due_at, at=now)
    return recorded


def _missed(row: ConversationSla, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    out: list[tuple[str, dt.datetime]] = []
    if row.paused_at is not None or row.resolved_at is not None:
        return out
    if (
        row.first_response_due_at
        and row.first_responded_at is None
        and not row.first_response_breached
        and row.first_response_due_at <= now
    ):
        out.append((Target.FIRST_RESPONSE, row.first_response_due_at))
    if row.resolution_due_at and not row.resolution_breached and row.resolution_due_at <= now:
        out.append((Target.RESOLUTION, row.resolution_due_at))
    return out


def sla_breach_record(*, row: ConversationSla, target: str, due_at: dt.datetime, at: dt.datetime) -> int:
    """One breach and its escalations, in one transaction; 0 when it was recorded before."""
    try:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(of=("self",), no_key=True)
                .select_related("team")
                .get(pk=row.conversation_id)
            )
            _mark_breached(row.conversation_id, target)
            breach = SlaBreach.objects.create(
                conversation=conversation,
                policy=row.policy,
                target=target,
                cycle=row.cycle,
                due_at=due_at,
                breached_at=at,
                assignee_id=conversation.assignee_id,
            )
            _escalate(conversation, breach, row.policy)
    except IntegrityError:
        with transaction.atomic():
            _mark_breached(row.conversation_id, target)  # recorded (and escalated) by another sweep
        return 0
    return 1


def _mark_breached(conversation_id: int, target: str) -> None:
    """The clock knows this target's breach is recorded: the sweep stops looking at it."""
    row = ConversationSla.objects.select_for_update().filter(pk=conversation_id).first()
    if row is None:
        return
    if target == Target.FIRST_RESPONSE:
        row.first_response_breached = True
    else:
        row.resolution_breached = True
    _next(row)
    row.save(update_fields=["first_response_breached", "resolution_breached", "check_at"])


def _escalate(conversation: Conversation, breach: SlaBreach, policy: SlaPolicy | None) -> None:
    target_words = Target(breach.target).label.lower()
    late = f"{breach.due_at:%Y-%m-%d %H:%M} UTC"
    text = f"SLA breached: {target_words} was due {late}" + (f" ({policy.name})" if policy else "")
    activity = activity_add(
        conversation,
        text,
        now=breach.breached_at,
        meta={"sla": {"target": breach.target, "due_at": breach.due_at.isoformat(), "cycle": breach.cycle}},
    )
    conversation.save(update_fields=["last_seq"])
    emit_message(activity)
    event_append(
        type=SlaEvent.BREACHED,
        data={
            "conversation": conversation.pk,
            "target": breach.target,
            "due_at": breach.due_at.isoformat(),
            "cycle": breach.cycle,
            "policy": policy.pk if policy else None,
        },
        conversation_id=conversation.pk,
        inbox_id=conversation.inbox_id,
    )
    rules = list(EscalationRule.objects.filter(policy=policy, target=breach.target)) if policy else []
    for rule in rules:
        if rule.action == EscalationRule.Action.NOTIFY:
            emit_notifications(
                conversation=conversation,
                agent_ids=_notify_ids(conversation),
                kind=NOTIFY_KIND,
                excerpt=text,
            )
        elif rule.action == EscalationRule.Action.PRIORITY and rule.priority is not None:
            if rule.priority > conversation.priority:
                conversation_update(conversation_id=conversation.pk, by=None, priority=rule.priority)
                conversation.refresh_from_db(fields=["priority", "last_seq"])
        elif rule.action == EscalationRule.Action.TEAM and rule.team_id is not None:
            conversation_update(conversation_id=conversation.pk, by=None, team_id=rule.team_id, assignee_id=None)
            conversation.refresh_from_db(fields=["team", "assignee", "last_seq"])


def _notify_ids(conversation: Conversation) -> list[int]:
    """The assignee and the supervisors of the conversation's team (admins of it too)."""
    ids: set[int] = set()
    if conversation.assignee_id:
        ids.add(conversation.assignee_id)
    if conversation.team_id:
        ids |= set(
            Agent.objects.filter(
                teams=conversation.team_id,
                is_active=True,
                role__in=(Agent.Role.SUPERVISOR, Agent.Role.ADMIN),
            ).values_list("id", flat=True)
        )
    return sorted(ids)


def sla_sweep() -> dict[str, int]:
    """The bus sweep's SLA round: catch the clocks up, retarget them after a settings change,
    then record breaches."""
    events = sla_clocks_catch_up()
    return {"events": events, "retargeted": sla_retarget_if_requested(), "breaches": sla_breaches_record()}


def sla_retarget_request() -> None:
    """Ask the next sweep to recompute the open clocks (a policy or calendar changed)."""
    SlaPosition.objects.get_or_create(pk=1)
    SlaPosition.objects.filter(pk=1).update(retarget_requested_at=timezone.now())


def sla_retarget_if_requested() -> int:
    """Recompute the open clocks once per request; a request made while this runs is kept."""
    requested = SlaPosition.objects.filter(pk=1).values_list("retarget_requested_at", flat=True).first()
    if requested is None:
        return 0
    # Cleared first, only if unchanged: a change saved meanwhile asks again for the next sweep.
    if not SlaPosition.objects.filter(pk=1, retarget_requested_at=requested).update(retarget_requested_at=None):
        return 0
    return sla_retarget_open()


# --- configuration -------------------------------------------------------------------------


def sla_retarget_open() -> int:
    """After a policy or calendar changed: recompute the due times of the open clocks; the ones
    that moved are saved (each locked while it is recomputed) and told to the consoles. Returns
    how many moved."""
    ctx = _Context()
    ids = list(ConversationSla.objects.filter(resolved_at__isnull=True).values_list("conversation_id", flat=True))
    count = 0
    for conversation_id in ids:
        with transaction.atomic():
            row = (
                ConversationSla.objects.select_for_update(of=("self",))
                .select_related("policy", "conversation")
                .filter(pk=conversation_id, resolved_at__isnull=True)
                .first()
            )
            if row is None:
                continue
            conversation = row.conversation
            policy = ctx.policy(
                inbox_id=conversation.inbox_id, team_id=conversation.team_id, priority=conversation.priority
            )
            before = (row.policy_id, row.first_response_due_at, row.resolution_due_at, row.next_due_at, row.check_at)
            row.policy = policy
            _retarget(row, ctx.calendar(conversation.team_id, policy))
            after = (row.policy_id, row.first_response_due_at, row.resolution_due_at, row.next_due_at, row.check_at)
            if before == after:
                continue  # nothing moved: no write, no event
            row.save()
            event_append(
                type=SlaEvent.UPDATED,
                data={"conversation": row.conversation_id, "sla": sla_data(row)},
                conversation_id=row.conversation_id,
                inbox_id=conversation.inbox_id,
            )
        count += 1
    return count


def _saved(instance: Any, data: dict[str, Any]) -> Any:
    for field, value in data.items():
        setattr(instance, field, value)
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        raise InvalidInput("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    instance.save()
    return instance


@transaction.atomic
def sla_config_save(*, model: type[Any], pk: int | None, data: dict[str, Any]) -> Any:
    """Create or change a calendar, holiday, policy or escalation rule; the next sweep
    retargets the open clocks (their due times follow the new targets and hours)."""
    if model not in (BusinessCalendar, Holiday, SlaPolicy, EscalationRule):
        raise ValueError(model)
    instance = model() if pk is None else model.objects.filter(pk=pk).first()
    if instance is None:
        raise NotFound("not found")
    saved = _saved(instance, data)
    if model is not EscalationRule:
        sla_retarget_request()
    return saved


@transaction.atomic
def sla_config_delete(*, model: type[Any], pk: int) -> None:
    if model not in (BusinessCalendar, Holiday, SlaPolicy, EscalationRule):
        raise ValueError(model)
    deleted, _ = model.objects.filter(pk=pk).delete()
    if not deleted:
        raise NotFound("not found")
    if model is not EscalationRule:
        sla_retarget_request()
