"""The list's SQL compiled once per shape (apps.api.selectors._page_rows, PostgreSQL): every page of
every view, filter and sort, walked to the end by its cursors, is what the ORM query of the same
page returns, row for row."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Agent
from apps.api import selectors
from apps.conversations.models import Conversation, ReadMarker
from apps.sla.models import ConversationSla, SlaPolicy
from tests.factories import AgentFactory, ContactFactory, ConversationFactory, InboxFactory, TeamFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]

REQUESTS = [
    {"view": "all", "sort": "recent"},
    {"view": "all", "sort": "waiting"},
    {"view": "all", "sort": "due"},
    {"view": "mine", "sort": "recent"},
    {"view": "mine", "sort": "waiting"},
    {"view": "unassigned", "sort": "waiting"},
    {"view": "noise", "sort": "recent"},
    {"view": "all", "sort": "recent", "status": "open"},
    {"view": "all", "sort": "waiting", "channel": "phone"},
    {"view": "all", "sort": "recent", "assignee": "none"},
    {"view": "all", "sort": "recent", "assignee": "me"},
]


def walk(agent: Agent, request: dict[str, str], limit: int) -> list[tuple[list[dict], str | None]]:
    """Every page, first to last; no conversation twice."""
    pages = []
    before = None
    seen: set[int] = set()
    for _ in range(100):
        rows, before = selectors.conversation_list(agent=agent, before=before, limit=limit, **request)
        ids = [row["id"] for row in rows]
        assert not seen & set(ids), f"{request}, limit {limit}: {sorted(seen & set(ids))} again"
        seen.update(ids)
        pages.append((rows, before))
        if before is None:
            return pages
    raise AssertionError("the pages never ended")


def test_every_page_is_the_orm_querys_page(monkeypatch):
    rng = random.Random(14)
    team = TeamFactory()
    inboxes = [InboxFactory(team=team), InboxFactory(team=team)]
    ana = AgentFactory()
    boss = AgentFactory(role=Agent.Role.SUPERVISOR)
    team.members.add(boss)
    for inbox in inboxes:
        inbox.members.add(ana)
    policy = SlaPolicy.objects.create(name="1 h", first_response_minutes=60, resolution_minutes=600)
    now = timezone.now()
    for n in range(40):
        # Ties in the sort keys on purpose: the cursor's id must break them.
        at = now - dt.timedelta(minutes=rng.choice([1, 2, 3, 5, 8]))
        conversation = ConversationFactory(
            inbox=rng.choice(inboxes),
            contact=ContactFactory(),
            status=rng.choice(list(Conversation.Status.values)),
            assignee=rng.choice([None, ana, boss]),
            noise=n % 9 == 0,
            last_activity_at=at,
            waiting_since=at - dt.timedelta(minutes=1) if n % 3 else None,
            last_channel=rng.choice(["phone", "email"]),
            last_message={"body": f"Hello {n}", "direction": "in", "kind": "message", "channel": "phone"},
            inbound_count=n % 4,
        )
        if n % 2:
            ConversationSla.objects.create(
                conversation=conversation,
                policy=policy,
                started_at=at,
                first_response_due_at=at + dt.timedelta(hours=1),
                next_due_at=at + dt.timedelta(minutes=rng.choice([10, 20])) if n % 4 == 1 else None,
                next_target="first_response",
            )
        if n % 5 == 0:
            ReadMarker.objects.create(agent=ana, conversation=conversation, read_inbound_count=1)

    selectors._PAGE_SQL.clear()
    for agent in (ana, boss):
        for request in REQUESTS:
            for limit in (1, 4, 50):
                cached = walk(agent, request, limit)
                with monkeypatch.context() as patched:
                    patched.setattr(selectors, "_page_sql", lambda *args, **kwargs: None)
                    selectors._PAGE_SQL.clear()
                    plain = walk(agent, request, limit)
                selectors._PAGE_SQL.clear()
                assert cached == plain, (agent.username, request, limit)
                assert sum(len(rows) for rows, _ in cached) > 0 or request["view"] == "mine"

    # The compiled SQL was used, cursors and all.
    selectors._PAGE_SQL.clear()
    walk(ana, {"view": "all", "sort": "waiting"}, 4)
    pages = [page for page in selectors._PAGE_SQL.values() if page is not None]
    assert any(page.pk_type is not None for page in pages)
    assert any(page.pk_type is None for page in pages)
    assert all(page.converters for page in pages)  # last_message, JSON


def test_the_due_pages_end_when_a_resolved_conversation_still_has_a_due_time():
    """A conversation resolved a moment ago keeps its due time until the SLA sweep stops its
    clock; it is listed with the rest, after the due ones. A page ending on it used to give a
    cursor back into the due walk, and the pages went round in a circle for ever."""
    inbox = InboxFactory()
    ana = AgentFactory()
    inbox.members.add(ana)
    policy = SlaPolicy.objects.create(name="1 h", first_response_minutes=60, resolution_minutes=600)
    now = timezone.now()
    due_soon = ConversationFactory(inbox=inbox, last_activity_at=now - dt.timedelta(minutes=5))
    just_resolved = ConversationFactory(inbox=inbox, status="resolved", last_activity_at=now)
    nothing_due = ConversationFactory(inbox=inbox, last_activity_at=now - dt.timedelta(minutes=1))
    for conversation, due in ((due_soon, now + dt.timedelta(minutes=30)), (just_resolved, now)):
        ConversationSla.objects.create(conversation=conversation, policy=policy, started_at=now, next_due_at=due)

    pages = walk(ana, {"view": "all", "sort": "due"}, 1)

    assert [[row["id"] for row in rows] for rows, _ in pages] == [[due_soon.pk], [just_resolved.pk], [nothing_due.pk]]


def test_a_filters_value_is_written_into_the_statement_and_the_cursor_is_not():
    """The page's statement is prepared (apps.core.pg_prepared): a filter's value left as a
    parameter would share one generic plan with every other value (a channel no conversation has
    was read by walking all of them). Written in, each value has a statement of its own; only
    the cursor's time and id are parameters."""
    agent = AgentFactory()
    inbox = InboxFactory()
    inbox.members.add(agent)
    for _ in range(3):
        ConversationFactory(inbox=inbox, last_channel="phone")
    selectors._PAGE_SQL.clear()
    for channel in ("phone", "email"):
        rows, cursor = selectors.conversation_list(agent=agent, channel=channel, limit=2)
        if cursor:
            selectors.conversation_list(agent=agent, channel=channel, limit=2, before=cursor)
    pages = {key: page for key, page in selectors._PAGE_SQL.items() if page is not None}
    assert len(pages) == 3  # phone's first and next page, email's first page
    for page in pages.values():
        placeholders = page.sql.replace("%%", "").count("%s")
        assert placeholders == (2 if page.pk_type is not None else 0)
    texts = [page.sql for page in pages.values()]
    assert sum("'phone'" in text for text in texts) == 2
    assert sum("'email'" in text for text in texts) == 1


def test_inlined_values_keep_their_percent_signs_and_quotes():
    sql = "SELECT %s, %s, '100%%', %s WHERE x LIKE %s"
    inlined = selectors._inline(sql, ["50% off", "O'Brien", 7, "%a_b%"], keep=(2,))
    assert inlined == "SELECT '50%% off', 'O''Brien', '100%%', %s WHERE x LIKE '%%a_b%%'"
    with connection.cursor() as cursor:
        cursor.execute(inlined.replace(" WHERE x LIKE '%%a_b%%'", ""), [7])
        assert cursor.fetchone() == ("50% off", "O'Brien", "100%", 7)
