"""Reads behind the API, scoped to what the agent may see (their inboxes)."""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    FilteredRelation,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Concat

from apps.accounts.models import Agent, Inbox, Team
from apps.accounts.permissions import inbox_scope, inboxes_visible, is_supervisor
from apps.contacts.models import Contact, ContactMerge, Identity
from apps.conversations.models import CannedResponse, Conversation, Label, Message
from apps.core.errors import InvalidInput
from apps.core.pg_prepared import prepared_cursor
from apps.core.pg_scans import index_scans
from apps.gateways.phones import InvalidPhoneNumber, normalize_phone


def conversations_visible(*, agent: Agent) -> QuerySet[Conversation]:
    return Conversation.objects.filter(inbox_scope(agent))


def _conversations_listed(*, agent: Agent) -> QuerySet[Conversation]:
    """conversations_visible for the hot reads (list, unread, detail): `inbox_id IN (the agent's
    inboxes, a subquery)` rather than the membership join. The same rows; PostgreSQL plans the
    list's six-table join in 1–4 ms instead of 9–22 ms (measured at 100k conversations), and
    planning was most of the list's database time (issue 14)."""
    return Conversation.objects.filter(inbox_id__in=_inbox_ids(agent))


def _inbox_ids(agent: Agent) -> QuerySet[Any, Any]:
    """The ids of the inboxes the agent sees, as a subquery: for an agent straight from the
    membership table, for a supervisor with their teams' inboxes too."""
    if is_supervisor(agent):
        return inboxes_visible(agent).values("pk")
    return Inbox.members.through.objects.filter(agent_id=agent.pk).values("inbox_id")


def _with_unread(qs: QuerySet[Conversation], agent: Agent) -> QuerySet[Conversation]:
    """`unread`: the customer's messages after this agent's read marker, from kept counts
    (Conversation.inbound_count minus the marker's read_inbound_count): one LEFT JOIN on the
    marker's (agent, conversation) unique index, no count over messages."""
    return qs.annotate(
        _marker=FilteredRelation("read_markers", condition=Q(read_markers__agent_id=agent.pk)),
        unread=F("inbound_count") - Coalesce(F("_marker__read_inbound_count"), Value(0)),
    )


def conversation_items(*, agent: Agent) -> QuerySet[Conversation]:
    """Visible conversations as model rows (contact and clock selected), with `unread` for this
    agent: for the callers that need a Conversation (the queue's position)."""
    return _with_unread(_conversations_listed(agent=agent).select_related("contact", "sla").only(*_ITEM_FIELDS), agent)


def conversation_item_rows(*, agent: Agent) -> QuerySet[Conversation, dict[str, Any]]:
    """Visible conversations as the console shows them, as dicts of the columns
    apps.api.items.conversation_rows_data writes (ITEM_VALUES), with `unread` for this agent.

    Dicts rather than model instances: a list page of 50 built 150 instances (conversation,
    contact, clock) for a few columns each, a fifth of its CPU (issue 14). The joins are the
    ones select_related made (contact: inner, clock: left outer)."""
    key = (agent.pk, is_supervisor(agent))
    base = _ITEM_ROWS.get(key)
    if base is None:
        base = _with_unread(_conversations_listed(agent=agent), agent).values(*ITEM_VALUES)
        if len(_ITEM_ROWS) >= _ITEM_ROWS_MAX:
            _ITEM_ROWS.clear()
        _ITEM_ROWS[key] = base
    return base.all()


# conversation_item_rows' base query per (agent, supervisor or not), built once per process and
# copied (QuerySet.all) for each request: building it (the visible inboxes' subquery, the read
# marker's FilteredRelation, the values' joins) was ~0.8 ms of a list page's ~4.9 ms of CPU, for
# a query that depends on nothing else. Never evaluated itself, only its copies; it holds no rows
# (the inboxes are a subquery), so a membership change is seen at once.
_ITEM_ROWS: dict[tuple[int, bool], QuerySet[Conversation, dict[str, Any]]] = {}
_ITEM_ROWS_MAX = 10_000


# What apps.api.items.conversation_items_data writes (and the list's cursors read): the other
# columns (the contact's notes, the clock's bookkeeping) are not read from the database.
_ITEM_FIELDS = (
    "id",
    "inbox_id",
    "contact_id",
    "status",
    "assignee_id",
    "team_id",
    "priority",
    "last_seq",
    "created_at",
    "last_activity_at",
    "waiting_since",
    "snoozed_until",
    "noise",
    "triage_reason",
    "last_message",
    "contact__id",
    "contact__name",
    "sla__conversation_id",
    "sla__policy_id",
    "sla__cycle",
    "sla__paused_at",
    "sla__first_response_due_at",
    "sla__first_responded_at",
    "sla__resolution_due_at",
    "sla__resolved_at",
    "sla__next_due_at",
    "sla__next_target",
)
# The keys of conversation_item_rows' dicts: the same columns (the contact's id is contact_id,
# no clock is sla__policy_id None), and `unread`.
ITEM_VALUES = tuple(f for f in _ITEM_FIELDS if f not in ("contact__id", "sla__conversation_id")) + ("unread",)


def unread_totals(*, agent: Agent) -> dict[str, int]:
    """What waits for this agent: unread customer messages in open (not resolved) conversations
    assigned to them or to nobody, and in how many conversations; and how many are noise (the
    Noise view's tab: noise waits in nobody's queue, so it is counted apart, whoever has it).

    PostgreSQL: one query of kept sums (UnreadTally: the conversations' by inbox and assignee,
    less the agent's read part), a few rows per inbox whatever the number of open conversations
    (30,000 at 1M conversations: ~38 ms of PostgreSQL by counting, issue 14). SQLite: counted
    from the conversations' kept counts."""
    if connection.vendor == "postgresql":
        return _unread_from_tally(agent)
    return _unread_by_counting(agent)


def _unread_by_counting(agent: Agent) -> dict[str, int]:
    """unread_totals counted from every open conversation's kept count (SQLite; and the
    reference the tally is tested against)."""
    queued = Q(noise=False, unread__gt=0) & (Q(assignee=agent) | Q(assignee__isnull=True))
    rows = _with_unread(
        _conversations_listed(agent=agent).exclude(status=Conversation.Status.RESOLVED),
        agent,
    ).filter(queued | Q(noise=True))
    totals = rows.aggregate(
        messages=Sum("unread", filter=Q(noise=False)),
        conversations=Count("pk", filter=Q(noise=False)),
        noise=Count("pk", filter=Q(noise=True)),
    )
    return {
        "messages": totals["messages"] or 0,
        "conversations": totals["conversations"] or 0,
        "noise": totals["noise"] or 0,
    }


# The sums of the agent's inboxes (theirs and nobody's conversations; noise whoever has it), less
# the agent's own read part of the same keys (UnreadTally).
_UNREAD_FROM_TALLY = """
SELECT coalesce(sum(CASE WHEN agent_id IS NULL THEN messages ELSE -messages END)
                    FILTER (WHERE assignee_id = %s OR assignee_id IS NULL), 0),
       coalesce(sum(CASE WHEN agent_id IS NULL THEN conversations ELSE -conversations END)
                    FILTER (WHERE assignee_id = %s OR assignee_id IS NULL), 0),
       coalesce(sum(noise) FILTER (WHERE agent_id IS NULL), 0)
FROM conversations_unreadtally
WHERE inbox_id IN ({inboxes}) AND (agent_id IS NULL OR agent_id = %s)
"""


def _unread_from_tally(agent: Agent) -> dict[str, int]:
    inboxes_sql, inboxes_params = _inbox_ids(agent).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            _UNREAD_FROM_TALLY.format(inboxes=inboxes_sql),
            [agent.pk, agent.pk, *inboxes_params, agent.pk],
        )
        messages, conversations, noise = cursor.fetchone()
    return {"messages": int(messages), "conversations": int(conversations), "noise": int(noise)}


def conversation_item(*, agent: Agent, conversation_id: int) -> Conversation | None:
    row = conversation_items(agent=agent).filter(pk=conversation_id).first()
    return row


def conversation_item_row(*, agent: Agent, conversation_id: int) -> dict[str, Any] | None:
    """One visible conversation as conversation_item_rows gives it (None: not found or not visible)."""
    return conversation_item_rows(agent=agent).filter(pk=conversation_id).first()


# --- the conversation list ----------------------------------------------------------------

VIEWS = ("all", "mine", "unassigned", "noise")
SORTS = ("recent", "waiting", "due")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Cursor phases: "" = recent sort; "w" = waiting sort, among the waiting ones;
# "a" = waiting sort, among the rest (by activity); "d" = due sort, among the conversations with
# an SLA due time (apps.sla); "e" = due sort, among the rest (by activity).
_WAITING, _ACTIVITY, _DUE, _DUE_REST = "w", "a", "d", "e"
_PHASES = {"": "recent", _WAITING: "waiting", _ACTIVITY: "waiting", _DUE: "due", _DUE_REST: "due"}


@dataclass(frozen=True)
class Cursor:
    phase: str
    at: dt.datetime
    pk: int

    def encode(self) -> str:
        """URL-safe as it is: phase letter, microseconds since the epoch, `_`, the id."""
        return f"{self.phase}{(self.at - _EPOCH) // dt.timedelta(microseconds=1)}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        phase = text[:1] if text[:1] in (_WAITING, _ACTIVITY, _DUE, _DUE_REST) else ""
        at_text, _, pk_text = text[len(phase) :].rpartition("_")
        if not at_text.isdigit() or not pk_text.isdigit():
            raise InvalidInput("`before` is not a cursor this API gave", code="invalid_cursor")
        try:
            return cls(phase, _EPOCH + dt.timedelta(microseconds=int(at_text)), int(pk_text))
        except OverflowError:
            raise InvalidInput("`before` is not a cursor this API gave", code="invalid_cursor") from None


class _Row(Func):
    template = "(%(expressions)s)"
    arg_joiner = ", "


def row_compare(fields: tuple[str, str], op: str, values: tuple[Any, int]) -> Func:
    """`(a, id) < (X, Y)` (op "<" or ">"): a keyset condition a B-tree index on (a, id) serves
    as the start of its range scan. X may be an expression (a subquery reading the anchor row).
    SQLite understands row values too (3.15+)."""
    if op not in ("<", ">"):
        raise ValueError(op)
    first = values[0] if hasattr(values[0], "resolve_expression") else Value(values[0], output_field=DateTimeField())
    return Func(
        _Row(F(fields[0]), F(fields[1])),
        _Row(first, Value(values[1], output_field=BigIntegerField())),  # ids are bigint: Int8, not Int4
        template="%(expressions)s",
        arg_joiner=f" {op} ",
        output_field=BooleanField(),
    )


def _channel_filter(channel: str) -> Q:
    if channel in Identity.Kind.values:  # phone, whatsapp, email, widget, telegram, xmpp
        return Q(last_channel=channel)  # kept with last_identity: an index, no join
    if channel in Inbox.Channel.values:  # sms: the Twilio inbox, whichever of its channels
        return Q(inbox__channel=channel)
    choices = sorted(set(Identity.Kind.values) | set(Inbox.Channel.values))
    raise InvalidInput(f"unknown channel {channel!r}; use one of {', '.join(choices)}", code="invalid_channel")


def conversation_list(
    *,
    agent: Agent,
    view: str = "all",
    status: str | None = None,
    channel: str | None = None,
    inbox_id: int | None = None,
    assignee: str | None = None,
    sort: str = "recent",
    before: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the console list (conversation_item_rows' dicts) and the cursor of the next (None on the last page).

    sort=recent: newest activity first, keyset on (last_activity_at, id).
    sort=waiting: longest-waiting first, keyset on (waiting_since, id); then the conversations
    nobody waits on, newest activity first.
    sort=due: the SLA's next due time first (overdue ones first), keyset on
    (sla.next_due_at, id); then the conversations with nothing due, newest activity first. Each part is one index-ordered query, so a page
    costs at most two queries plus the two prefetches, however long the history is.
    """
    qs = conversation_item_rows(agent=agent)
    # Noise (triage) is in the Noise view only, never in a queue.
    qs = qs.filter(noise=True) if view == "noise" else qs.filter(noise=False)
    if view in ("noise", "all"):
        pass
    elif view == "mine":
        qs = qs.filter(assignee=agent)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif view.startswith("team:") and view[5:].isdigit():
        qs = qs.filter(team_id=int(view[5:]))
    else:
        raise InvalidInput("`view` must be mine, unassigned, all, noise or team:<id>", code="invalid_view")
    if status:
        if status not in Conversation.Status.values:
            raise InvalidInput(f"unknown status {status!r}", code="invalid_status")
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(_channel_filter(channel))
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if assignee == "me":
        qs = qs.filter(assignee=agent)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee and assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if sort not in SORTS:
        raise InvalidInput("`sort` must be waiting, recent or due", code="invalid_sort")
    cursor = Cursor.parse(before) if before else None
    if cursor and _PHASES[cursor.phase] != sort:
        raise InvalidInput("`before` is a cursor of another sort order", code="invalid_cursor")

    # The page's SQL is compiled once per shape of request (_page_rows): the key is everything
    # but the cursor's values that shapes it.
    shape = (
        agent.pk,
        is_supervisor(agent),
        view,
        status,
        channel,
        inbox_id,
        assignee if assignee in ("me", "none") or (assignee or "").isdigit() else None,
        sort,
    )
    resolved = Q(status=Conversation.Status.RESOLVED)

    def by_activity(at: Any = None, pk: Any = None) -> QuerySet[Conversation, dict[str, Any]]:
        rest = qs.order_by("-last_activity_at", "-id")
        if pk is not None:
            rest = rest.filter(row_compare(("last_activity_at", "id"), "<", (at, pk)))
        if sort == "due":
            # A resolved conversation has nothing due, whatever its clock says until the SLA sweep
            # has seen the resolution: it goes with the rest.
            rest = rest.filter(Q(sla__isnull=True) | Q(sla__next_due_at__isnull=True) | resolved)
        elif sort == "waiting":
            rest = rest.filter(waiting_since__isnull=True)
        return rest

    def by_waiting(at: Any = None, pk: Any = None) -> QuerySet[Conversation, dict[str, Any]]:
        waiting = qs.filter(waiting_since__isnull=False).order_by("waiting_since", "id")
        if pk is not None:
            waiting = waiting.filter(row_compare(("waiting_since", "id"), ">", (at, pk)))
        return waiting

    rows: list[dict[str, Any]] = []
    if sort == "due":
        # The SLA due time (the soonest, or the longest overdue, first) walks the sla_next_due_idx
        # keyset; then the conversations with nothing due, newest activity first.
        if cursor is None or cursor.phase == _DUE:
            # Ordered and compared on the clock's own (next_due_at, conversation_id), the key of
            # sla_next_due_idx (the same values as the conversation's id): a deep page's cursor is
            # where the index scan starts, not a filter over every clock before it.
            due = qs.filter(sla__next_due_at__isnull=False).order_by("sla__next_due_at", "sla__conversation_id")
            if cursor:
                due = due.filter(_due_after(cursor.at, cursor.pk))
            one_agent = view == "mine" or assignee == "me" or (assignee or "").isdigit()
            # One agent's due clocks are found from their unresolved conversations (conv_unread_idx),
            # not from every conversation they ever had.
            own = _due_of_one_agent(due.exclude(resolved), limit) if one_agent else None
            rows = own if own is not None else _due_unresolved(due, limit)
    if sort == "waiting" and (cursor is None or cursor.phase == _WAITING):
        at, pk = (cursor.at, cursor.pk) if cursor else (None, None)
        rows = _page_rows((*shape, _WAITING, pk is not None), by_waiting, at, pk, limit + 1)
    # The next page goes on from the walk the page's last row came from. (Not from the row's
    # columns: a resolved conversation whose clock the SLA sweep has not stopped yet has a due
    # time and comes in the rest; taken for a due row, its cursor sent the next page back into
    # the due walk, and the pages went round in a circle.)
    first_walk = len(rows)
    if len(rows) <= limit:
        at, pk = (cursor.at, cursor.pk) if cursor and cursor.phase in ("", _ACTIVITY, _DUE_REST) else (None, None)
        rows += _page_rows((*shape, _ACTIVITY, pk is not None), by_activity, at, pk, limit + 1 - len(rows))
    more = len(rows) > limit
    rows = rows[:limit]
    if not more or not rows:
        return rows, None
    last = rows[-1]
    of_first_walk = len(rows) <= first_walk
    if sort == "recent":
        return rows, Cursor("", last["last_activity_at"], last["id"]).encode()
    if sort == "due":
        if of_first_walk:
            return rows, Cursor(_DUE, last["sla__next_due_at"], last["id"]).encode()
        return rows, Cursor(_DUE_REST, last["last_activity_at"], last["id"]).encode()
    if of_first_walk:
        return rows, Cursor(_WAITING, last["waiting_since"], last["id"]).encode()
    return rows, Cursor(_ACTIVITY, last["last_activity_at"], last["id"]).encode()


@dataclass(frozen=True)
class _PageSql:
    sql: str  # every value written in but the cursor's time and id (see _inline)
    pk_type: Callable[[int], Any] | None  # the cursor's id as the ORM adapted it (None: no cursor)
    at_first: bool  # the cursor's time comes before its id in the statement
    names: tuple[str, ...]
    width: int | None  # the row's columns to keep (ORDER BY may add some)
    converters: tuple[tuple[int, tuple[list[Any], Any]], ...]  # the values' converters (JSON), by column


# A list page's SQL by shape (_page_rows): compiling the ORM query was about a quarter of a list
# page's CPU (issue 14), for SQL that is the same for every page of the same view of the same
# agent but for the cursor. Bounded like _ITEM_ROWS; PostgreSQL only (SQLite gets its datetimes
# as text in the parameters, and compiles as before).
_PAGE_SQL: dict[tuple[Any, ...], _PageSql | None] = {}
_PAGE_SQL_MAX = 10_000
# Cursor values no request has: where they land in the compiled parameters is where a page's go.
_SENTINEL_AT = dt.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC)
_SENTINEL_PK = -2_012_345_678


def _page_rows(
    key: tuple[Any, ...],
    build: Callable[[Any, Any], QuerySet[Conversation, dict[str, Any]]],
    at: Any,
    pk: int | None,
    n: int,
) -> list[dict[str, Any]]:
    """`list(build(at, pk)[:n])` (a values() query of conversation_item_rows; pk None: no
    cursor), with the SQL of its shape (`key`, n) compiled once per process."""
    if connection.vendor != "postgresql":
        return list(build(at, pk)[:n])
    key = (*key, n)
    page = _PAGE_SQL.get(key, _UNSEEN)
    if page is _UNSEEN:
        page = _page_sql(build, with_cursor=pk is not None, n=n)
        if len(_PAGE_SQL) >= _PAGE_SQL_MAX:
            _PAGE_SQL.clear()
        _PAGE_SQL[key] = page
    if page is None:
        return list(build(at, pk)[:n])
    assert isinstance(page, _PageSql)
    params: list[Any] = []
    if page.pk_type is not None and pk is not None:
        # The id as the ORM adapted the sentinel (psycopg's Int8 on PostgreSQL).
        params = [at, page.pk_type(pk)] if page.at_first else [page.pk_type(pk), at]
    with prepared_cursor(connection) as cursor:  # planned once per connection (apps.core.pg_prepared)
        cursor.execute(page.sql, params)
        rows: Iterable[Any] = cursor.fetchall()
    if page.width is not None:
        rows = [row[: page.width] for row in rows]
    if page.converters:
        rows = list(map(list, rows))
        for row in rows:
            for position, (converters, expression) in page.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
    names = page.names
    return [dict(zip(names, row, strict=True)) for row in rows]


_UNSEEN = object()


def _page_sql(
    build: Callable[[Any, Any], QuerySet[Conversation, dict[str, Any]]], *, with_cursor: bool, n: int
) -> _PageSql | None:
    """The compiled SQL of `build(…)[:n]` and where its cursor goes; None when it cannot be reused
    (the sentinel cursor not found exactly once in the parameters)."""
    qs = build(_SENTINEL_AT, _SENTINEL_PK)[:n] if with_cursor else build(None, None)[:n]
    query = qs.query
    compiler = query.get_compiler(qs.db)
    sql, params = compiler.as_sql()
    at = pk = None
    if with_cursor:
        ats = [i for i, p in enumerate(params) if isinstance(p, dt.datetime) and p == _SENTINEL_AT]
        pks = [i for i, p in enumerate(params) if isinstance(p, int) and p == _SENTINEL_PK]
        if len(ats) != 1 or len(pks) != 1:
            return None
        at, pk = ats[0], pks[0]
    # As ValuesIterable names a row's columns, and results_iter converts them.
    names = (
        tuple(query.selected)
        if query.selected
        else (*query.extra_select, *query.values_select, *query.annotation_select)
    )
    # last_message's is FastJSONField's (orjson): the list page's one JSON column.
    converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
    return _PageSql(
        sql=_inline(sql, params, keep=() if at is None or pk is None else (at, pk)),
        pk_type=None if pk is None else type(params[pk]),
        at_first=at is not None and pk is not None and at < pk,
        names=names,
        width=compiler.col_count if compiler.has_extra_select else None,
        converters=tuple(converters.items()),
    )


_PLACEHOLDER = re.compile(r"%%|%s")


def _inline(sql: str, params: Any, *, keep: tuple[int, ...]) -> str:
    """`sql` with its parameters written in as literals (psycopg's quoting), but for those at
    positions `keep`, which stay `%s`. The page's statement is prepared (apps.core.pg_prepared)
    and PostgreSQL may give a prepared statement one generic plan for all its values: planned for
    a filter's value it cannot see ("channel = $1"), it walked all 1M conversations for a channel
    no conversation has (370 ms; 4 ms planned for the value). Written in, every filter value has
    a statement and plans of its own; the cursor's time and id, which do not change the plan,
    stay parameters."""
    values = iter(enumerate(params))
    ops: Any = connection.ops  # PostgreSQL's: compose_sql quotes as psycopg does

    def literal(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%%"
        position, value = next(values)
        if position in keep:
            return "%s"
        return str(ops.compose_sql("%s", [value])).replace("%", "%%")

    return _PLACEHOLDER.sub(literal, sql)


def _due_after(at: Any, pk: int) -> Func:
    return row_compare(("sla__next_due_at", "sla__conversation_id"), ">", (at, pk))


def _due_unresolved(due: QuerySet[Conversation, dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first `limit` + 1 rows of `due` that are not resolved. The resolved ones (a clock the
    SLA sweep has not yet stopped: rare, and for seconds) are skipped here rather than in SQL:
    a status condition there makes PostgreSQL sort every unassigned open conversation instead of
    walking the due index (at 1M conversations, the unassigned view's 50th page 17 -> 180 ms)."""
    rows: list[dict[str, Any]] = []
    page = due
    while True:
        want = limit + 1 - len(rows)
        got = list(page[:want])
        rows += [r for r in got if r["status"] != Conversation.Status.RESOLVED]
        if len(rows) > limit or len(got) < want:
            return rows
        page = due.filter(_due_after(got[-1]["sla__next_due_at"], got[-1]["id"]))


# One agent's clocks that are due are their open conversations with an SLA: a few dozen on a
# working desk. Up to this many are read whole and sorted here; with more, the walk of the due
# index finds a page soon (measured at 1,000 due: the walk 9 ms, reading them all 30-55 ms).
DUE_OF_ONE_AGENT_MAX = 200


def _due_of_one_agent(due: QuerySet[Conversation, dict[str, Any]], limit: int) -> list[dict[str, Any]] | None:
    """One page of `due` (one agent's conversations in due order) read from that agent's own
    clocks. Walking the desk's due index and filtering by assignee, as PostgreSQL plans it for
    `ORDER BY … LIMIT`, reads every clock of the desk when the agent has few or none due; the
    agent's clocks, read without an order (through the assignee's index) and sorted here, cost
    what the agent has. None (walk the index) when the agent has more than
    DUE_OF_ONE_AGENT_MAX due: then the walk finds a page soon."""
    keys = list(due.order_by().values_list("sla__next_due_at", "id")[: DUE_OF_ONE_AGENT_MAX + 1])
    if len(keys) > DUE_OF_ONE_AGENT_MAX:
        return None
    page = [pk for _, pk in sorted(keys)[: limit + 1]]
    if not page:
        return []
    found = {c["id"]: c for c in due.order_by().filter(pk__in=page)}
    return [found[pk] for pk in page if pk in found]


# --- contacts -----------------------------------------------------------------------------


def contacts_visible(*, agent: Agent) -> QuerySet[Contact]:
    return Contact.objects.filter(inbox_scope(agent, field="conversations__inbox")).distinct()


SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 20
SEARCH_IDENTITY_CANDIDATES = 500
_PHONE_LIKE = re.compile(r"[\d\s().+-]+")


def _identity_matches(q: str) -> tuple[list[QuerySet[Identity]], list[str]]:
    """Identities whose address or display contains `q`, as separate querysets (see
    contact_search); for a phone number typed any way, also the number normalised as receiving
    does (E.164, apps.gateways.phones) and its digits. And the fragments they look for."""
    identities = Identity.objects.all()
    address = identities.filter(address__icontains=q)
    if "@" in q and connection.vendor == "postgresql":
        # A whole address shares its domain's trigrams with every address there ("@example.com"
        # with all 600,000 of them: 35 ms in the index); the part before the @ finds the few
        # candidates, then the whole of `q` is tested on them only (an expression the trigram
        # index does not serve).
        local = q.rsplit("@", 1)[0]
        if len(local) >= 3:
            whole = Concat("address", Value(""), output_field=CharField())
            address = identities.alias(whole=whole).filter(address__icontains=local, whole__icontains=q)
    if connection.vendor == "postgresql" and any(c in NAME_WORD_SEPARATORS for c in q):
        # What contains whitespace is only inside an address that has some: the few such
        # addresses have a trigram index of their own (contacts migration 0008), where the
        # whole address index would offer every address having the words' trigrams.
        address = address.filter(address__regex=SPACED_ADDRESS)
    matches = [address, identities.filter(display__icontains=q)]
    fragments = [q]
    if _PHONE_LIKE.fullmatch(q):
        digits = re.sub(r"\D", "", q)
        if len(digits) >= SEARCH_MIN_CHARS and digits != q:
            if q == "+" + digits:  # what contains "+1415…" contains "1415…"
                matches[0] = identities.filter(address__icontains=digits)
            else:
                matches.append(identities.filter(address__icontains=digits))
            fragments.append(digits)
        try:
            e164 = normalize_phone(q)
        except InvalidPhoneNumber:
            pass
        else:
            matches.append(identities.filter(kind__in=_PHONE_KINDS, address=e164))
    return matches, fragments


_PHONE_KINDS = [Identity.Kind.PHONE, Identity.Kind.WHATSAPP]
# The condition of the partial index of addresses with whitespace (contacts migration 0008):
# PostgreSQL's `\s`, which every character of NAME_WORD_SEPARATORS matches.
SPACED_ADDRESS = r"\s"


def contact_search(*, agent: Agent, q: str, limit: int = SEARCH_LIMIT) -> list[Contact]:
    """Contacts the agent can see whose name or an identity's address contains `q`.

    A phone number typed with spaces, dashes, dots or brackets is matched by its digits
    ("415 555-0202" finds +14155550202). Merged contacts are left out. Two queries whatever the
    number of matches: the contacts by name and the contacts by identity (on PostgreSQL, a third
    by name when few of the earliest name matches are visible to the agent, see _names_matching,
    and the setting of apps.core.pg_scans). The answer's identities are read with one more by the
    view's apps.api.items.contact_items_data.

    On PostgreSQL the `UPPER(column) LIKE '%q%'` matches come from GIN trigram indexes (contacts
    migration 0004) and, for a query of one word, from the words of names (migration 0007); see
    _names_matching for the order by name.
    """
    q = q.strip()
    if len(q) < SEARCH_MIN_CHARS:
        raise InvalidInput(f"`q` needs at least {SEARCH_MIN_CHARS} characters", code="invalid_q")
    visible = Conversation.objects.filter(inbox_scope(agent), contact_id=OuterRef("pk"))
    candidates = Contact.objects.filter(merged_into__isnull=True).filter(Exists(visible)).order_by("name", "id")
    by_name = _names_matching(agent, q, limit, candidates)
    # An address fragment common to many identities ("len" in every lena.*@ and elena.*@) would
    # make this query collect all of them before ordering: it ranks the first
    # SEARCH_IDENTITY_CANDIDATES identities the index finds (an address is usually typed
    # precisely enough; a name is searched by name). On PostgreSQL as `id = ANY(ARRAY(those
    # contact ids))`: as `id IN (subquery)` it estimated the 500 rows as a few and hashed them
    # against a sequential scan of every contact (18 ms at 60k contacts, ten times that at 600k);
    # an array is read by the primary key.
    #
    # The conditions are read one by one (UNION ALL, each with its limit): as one OR, PostgreSQL
    # costed the bitmap of the display's trigram index (empty for most identities) so high that
    # it scanned the table instead until it had found enough ("kowalski" at 1.2M identities:
    # 27 ms, then 4 ms this way).
    #
    # And from the trigram index, not by a scan that stops at the 500th match (apps.core.pg_scans):
    # where that scan starts and stops varies ("len" under 8 clients: 5 ms, or 333 ms about one
    # request in ten). Not for a fragment of two characters, which has no trigram to look up.
    matches, fragments = _identity_matches(q)
    if connection.vendor == "postgresql":
        first, *rest = [match.values("contact_id")[:SEARCH_IDENTITY_CANDIDATES] for match in matches]
        identities = first.union(*rest, all=True)[:SEARCH_IDENTITY_CANDIDATES]
        with index_scans(*fragments):
            by_identity = list(candidates.filter(_InArray(F("pk"), ArraySubquery(identities)))[:limit])
    else:  # SQLite (no LIMIT inside a UNION there, and no index to choose): one OR
        identities = reduce(operator.or_, matches).values("contact_id")[:SEARCH_IDENTITY_CANDIDATES]
        by_identity = list(candidates.filter(pk__in=identities)[:limit])
    merged = {c.pk: c for c in by_name + by_identity}
    return sorted(merged.values(), key=lambda c: (c.name, c.pk))[:limit]


# A name search reads at most this many matches from the trigram index before it orders them by
# name; more matches than that and it walks the (name, id) index instead (see _names_matching).
SEARCH_NAME_MATCHES = 50_000


def _names_matching(agent: Agent, q: str, limit: int, candidates: QuerySet[Contact]) -> list[Contact]:
    """The first `limit` visible, unmerged contacts by (name, id) whose name contains `q`.

    Walking the (name, id) index in order and stopping at the `limit`-th match is fast when the
    matches are spread over the alphabet ("okafor": any surname) but reads nearly every contact
    when they are not: a first name's prefix ("zoe") matches names that all sort at the end, and
    PostgreSQL, estimating from the trigram statistics as if they were spread, walked 58,000 of
    60,000 contacts (600,000 at a million conversations). So on PostgreSQL: the matches from the
    trigram index (a bitmap scan, no order; at most SEARCH_NAME_MATCHES), sorted by name, then the
    visibility test on that sorted list until `limit` pass — work in proportion to the number of
    matches, not to where they sort. The sort is a top-N one (the `limit` × SEARCH_NAME_FIRST
    earliest; 40,000 matches of "len" at 600k contacts: 59 -> ~35 ms) unless too few of those
    are visible. A query with more matches than that (two common letters)
    is dense enough that the walk meets its matches early. SQLite: the walk.
    """
    walk = candidates.filter(name__icontains=q)
    if connection.vendor != "postgresql":
        return list(walk[:limit])
    scope_sql, scope_params = (
        inboxes_visible(agent).values("pk")
        if is_supervisor(agent)
        else Inbox.members.through.objects.filter(agent_id=agent.pk).values("inbox_id")
    ).query.sql_with_params()
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # First the `first` matches earliest by name (a top-N sort: cheap however many match), tested
    # for visibility; only when fewer than `limit` of them are visible and there are more matches
    # are all of them sorted (an agent who sees few inboxes).
    first = limit * SEARCH_NAME_FIRST
    if not any(c in NAME_WORD_SEPARATORS for c in q):
        found = _names_by_word(scope_sql, scope_params, pattern, limit, first)
        if found is not None:
            return found
    rows = _names_raw(scope_sql, scope_params, pattern, limit, first)
    matches = rows[0].matches if rows else 0  # type: ignore[attr-defined]
    if matches > SEARCH_NAME_MATCHES:
        return list(walk[:limit])
    found = [row for row in rows if row.pk is not None]
    if len(found) < limit and matches > first:
        found = [row for row in _names_raw(scope_sql, scope_params, pattern, limit, None) if row.pk is not None]
    return found


def _first_visible(source: str, scope_sql: str) -> str:
    """The end of a name search's statement: of `source` (id, name: the candidates), the first
    `%s` by (name, id) with a conversation in the agent's inboxes (`scope_sql`), as contacts; one
    row with no contact when none is."""
    return f"""
        LEFT JOIN LATERAL (
            SELECT id, name FROM {source} AS sorted
            WHERE EXISTS (
                SELECT 1 FROM conversations_conversation v
                WHERE v.contact_id = sorted.id AND v.inbox_id IN ({scope_sql})
            )
            ORDER BY name, id
            LIMIT %s
        ) AS s ON true
        LEFT JOIN contacts_contact c ON c.id = s.id
        ORDER BY s.name, s.id"""


# How many name matches per result the first pass of a name search sorts (see _names_matching).
SEARCH_NAME_FIRST = 4


def _names_raw(
    scope_sql: str, scope_params: tuple[Any, ...], pattern: str, limit: int, first: int | None
) -> list[Contact]:
    """Contacts whose name matches `pattern` (at most SEARCH_NAME_MATCHES read from the trigram
    index), in (name, id) order: of the `first` earliest (all when None), the first `limit`
    visible ones. Every row carries `matches`, how many were read; a row with no contact (pk
    None) when none is visible."""
    top = "LIMIT %s" if first is not None else "OFFSET 0"
    sql = f"""
        WITH m AS MATERIALIZED (
            SELECT id, name FROM contacts_contact
            WHERE merged_into_id IS NULL AND UPPER(name::text) LIKE UPPER(%s)
            LIMIT %s
        )
        SELECT c.id, c.name, c.notes, c.merged_into_id, c.created_at, n.matches
        FROM (SELECT count(*) AS matches FROM m) AS n
        {_first_visible(f"(SELECT id, name FROM m ORDER BY name, id {top})", scope_sql)}
    """
    params = [pattern, SEARCH_NAME_MATCHES + 1, *([first] if first is not None else []), *scope_params, limit]
    return list(Contact.objects.raw(sql, params))


# The characters contacts' names are split into words on (contacts migration 0007): a query
# without any of them lies inside one word of every name that contains it.
NAME_WORD_SEPARATORS = " \t\n\r\f\v"
# A name search by word reads the first matches of at most this many words that contain the
# query; a query in more words than that (two common letters) goes the trigram way.
SEARCH_NAME_WORDS = 200


def _names_by_word(
    scope_sql: str, scope_params: tuple[Any, ...], pattern: str, limit: int, first: int
) -> list[Contact] | None:
    """The first `limit` visible contacts by (name, id) whose name has a word matching `pattern`
    (a query without a separator: the same contacts as the name containing it), from the words
    of names (ContactNameWord, kept by a trigger; PostgreSQL): the vocabulary's words that match
    (trigram index), the `first` earliest names of each by the (word, name, contact_id) index,
    the `first` earliest of those, tested for visibility. A few hundred index entries however
    many contacts match ("len" at 600,000 contacts: 40,000 names read before, 160 entries now).
    None when the trigram way must answer: more than SEARCH_NAME_WORDS words match, or fewer
    than `limit` of the `first` earliest are visible and there may be more."""
    sql = f"""
        WITH w AS MATERIALIZED (
            SELECT DISTINCT word FROM contacts_nameword WHERE word LIKE UPPER(%s) LIMIT %s
        ), m AS MATERIALIZED (
            SELECT DISTINCT x.name, x.contact_id AS id
            FROM w CROSS JOIN LATERAL (
                SELECT n.name, n.contact_id FROM contacts_contactnameword n
                WHERE n.word = w.word ORDER BY n.name, n.contact_id LIMIT %s
            ) AS x
            ORDER BY x.name, x.contact_id
            LIMIT %s
        )
        SELECT c.id, c.name, c.notes, c.merged_into_id, c.created_at, n.words, n.matches
        FROM (SELECT (SELECT count(*) FROM w) AS words, (SELECT count(*) FROM m) AS matches) AS n
        {_first_visible("m", scope_sql)}
    """
    params = [pattern, SEARCH_NAME_WORDS + 1, first, first, *scope_params, limit]
    rows = list(Contact.objects.raw(sql, params))
    words, matches = (rows[0].words, rows[0].matches) if rows else (0, 0)  # type: ignore[attr-defined]
    if words > SEARCH_NAME_WORDS:
        return None
    found = [row for row in rows if row.pk is not None]
    if len(found) < limit and matches >= first:
        return None
    return found


class _InArray(Func):
    """`(value = ANY(array))` (PostgreSQL)."""

    template = "(%(expressions)s))"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def contact_conversations(*, agent: Agent, contact_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = conversation_item_rows(agent=agent).filter(contact_id=contact_id).order_by("-last_activity_at", "-id")
    return list(rows[:limit])


def contact_merge_visible(*, agent: Agent, merge_id: int) -> ContactMerge | None:
    """A merge the agent may undo: its surviving contact is one they can see."""
    return ContactMerge.objects.filter(pk=merge_id, survivor__in=contacts_visible(agent=agent)).first()


@dataclass
class TimelinePage:
    messages: list[Message]  # oldest first
    next: int | None  # `after` of the page after this one (paging forwards), else None
    previous: int | None  # `before` of the page before this one (paging backwards), else None


def contact_timeline(
    *,
    agent: Agent,
    contact_id: int,
    after: int | None = None,
    before: int | None = None,
    newest: bool = False,
    limit: int = 200,
) -> TimelinePage:
    """Messages of the contact across conversations and channels, oldest first in a page.

    Keyset-paginated on (created_at, id), as a row comparison with the anchor message read by a
    subquery, so a page costs the same however long the history is:
    - `after` (the id of the last message of the previous page): the next `limit` messages;
    - `newest`: the newest `limit` messages; `before` (the first message of a page): the
      `limit` messages before it, as the console's "Earlier messages" asks.
    """
    qs = Message.objects.filter(inbox_scope(agent, field="conversation__inbox"), conversation__contact_id=contact_id)

    def anchor(pk: int) -> Subquery:
        return Subquery(Message.objects.filter(pk=pk).values("created_at")[:1], output_field=DateTimeField())

    if before is not None or newest:
        if before is not None:
            qs = qs.filter(row_compare(("created_at", "id"), "<", (anchor(before), before)))
        rows = list(qs.order_by("-created_at", "-id")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit][::-1]
        return TimelinePage(rows, None, rows[0].pk if more and rows else None)
    if after:
        qs = qs.filter(row_compare(("created_at", "id"), ">", (anchor(after), after)))
    rows = list(qs.order_by("created_at", "id")[:limit])
    return TimelinePage(rows, rows[-1].pk if len(rows) == limit else None, None)


# --- agents, labels, canned responses ------------------------------------------------------


def agent_me(*, agent: Agent) -> Agent:
    """The agent with their presence, inboxes and teams loaded."""

    return (
        Agent.objects.select_related("presence")
        .prefetch_related(
            Prefetch("inboxes", queryset=Inbox.objects.order_by("id")),
            Prefetch("teams", queryset=Team.objects.order_by("id")),
        )
        .get(pk=agent.pk)
    )


def label_list() -> QuerySet[Label]:
    return Label.objects.order_by("name")


def canned_response_list(*, q: str | None = None) -> QuerySet[CannedResponse]:
    qs = CannedResponse.objects.order_by("shortcut")
    if q:
        q = q.strip().lstrip("/")
        qs = qs.filter(Q(shortcut__istartswith=q) | Q(shortcut__icontains=q) | Q(title__icontains=q))
    return qs
