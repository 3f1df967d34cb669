"""Reports on a small known dataset: every expected number is worked out by hand in the comments.

The same tests run on PostgreSQL (percentile_cont in SQL) and on SQLite (Python interpolation):
    .venv/bin/python -m pytest tests/reports -q
    DATABASE_URL=sqlite:////tmp/reports-test.sqlite3 .venv/bin/python -m pytest tests/reports -q
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
from types import SimpleNamespace

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.conversations.models import Conversation, Message
from apps.conversations.services.changes import conversation_update
from apps.conversations.services.send import message_send
from apps.csat.models import Survey
from apps.reports.registry import MetricResult, metric_source, register_metric, unregister_metric
from apps.sla.models import ConversationSla
from tests.factories import (
    AgentFactory,
    ContactFactory,
    ConversationFactory,
    IdentityFactory,
    InboxFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def desk():
    support, billing = TeamFactory(name="Support"), TeamFactory(name="Billing")
    sms = InboxFactory(name="SMS", channel="sms", team=support)
    mail = InboxFactory(name="Mail", channel="email", address="help@example.com", team=billing)
    ana = AgentFactory(username="ana", display_name="Ana")
    ben = AgentFactory(username="ben", display_name="Ben")
    boss = AgentFactory(username="boss", display_name="Boss", role=Agent.Role.ADMIN)
    for a in (ana, ben, boss):
        sms.members.add(a)
        mail.members.add(a)

    def conv(created, inbox, team, assignee, fr_seconds=None, fr_at=None, resolved=None):
        c = ConversationFactory(
            inbox=inbox,
            team=team,
            assignee=assignee,
            contact=ContactFactory(),
            status="resolved" if resolved else "open",
            first_response_seconds=fr_seconds,
            first_response_at=fr_at,
            resolved_at=resolved,
        )
        Conversation.objects.filter(pk=c.pk).update(created_at=created)  # auto_now_add
        return c

    # In the period (1-3 March 2026, UTC):
    conv(at(1, 9), sms, support, ana, 60, at(1, 9, 1), at(1, 10))  # c1: resolution 3,600 s (day 1)
    conv(at(1, 14, 30), sms, support, ana, 300, at(1, 14, 35), at(3, 14, 30))  # c2: 172,800 s (day 3)
    conv(at(2, 8), mail, billing, ben, 600, at(2, 8, 10), at(2, 9))  # c3: 3,600 s (day 2)
    conv(at(2, 23), mail, billing, ben, 1200, at(2, 23, 20))  # c4: open
    conv(at(3, 12), sms, support, None)  # c5: open, unanswered, unassigned
    # Before the period:
    conv(at(27, 10, month=2), sms, support, ana, 30, at(27, 10, month=2), at(3, 10))  # c0: 345,600 s (day 3)
    conv(at(20, 10, month=2), sms, support, ana, 30, at(20, 11, month=2), at(21, 10, month=2))  # done before
    conv(at(25, 10, month=2), mail, billing, ben)  # open since February: in the backlog
    # After the period:
    conv(at(4, 10), sms, support, ana, 10, at(4, 10, 1), at(4, 11))
    return {"ana": ana, "ben": ben, "boss": boss, "support": support, "billing": billing, "sms": sms, "mail": mail}


def client_for(agent: Agent) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=agent)[0].key}")
    return client


PERIOD = "from=2026-03-01&to=2026-03-03"


def test_report_totals_percentiles_volume_and_backlog(desk):
    response = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}")

    assert response.status_code == 200
    data = response.json()
    assert data["period"] == {
        "from": "2026-03-01T00:00:00+00:00",
        "to": "2026-03-04T00:00:00+00:00",
        "tz": "UTC",
        "bucket": "day",
    }
    s = data["summary"]
    assert s["created"] == 5  # c1..c5
    # First answers in the period: 60, 300, 600, 1200 -> median (300+600)/2; p90 at rank 2.7:
    # 600 + 0.7 * (1200 - 600) = 1020.
    assert s["first_response"] == {"count": 4, "median": 450.0, "p90": 1020.0}
    # Resolved in the period: c1 3600, c3 3600, c2 172800, c0 345600 -> median (3600+172800)/2;
    # p90: 172800 + 0.7 * (345600 - 172800) = 293760.
    assert s["resolved"] == 4
    assert s["resolution"] == {"count": 4, "median": 88200.0, "p90": 293760.0}
    assert s["sla"] is None and s["csat"] is None
    assert data["buckets"] == [
        "2026-03-01T00:00:00+00:00",
        "2026-03-02T00:00:00+00:00",
        "2026-03-03T00:00:00+00:00",
    ]
    assert data["volume"] == {"sms": [2, 0, 1], "email": [0, 2, 0]}
    assert data["by_hour"]["sms"] == [1 if h in (9, 12, 14) else 0 for h in range(24)]
    assert data["by_hour"]["email"] == [1 if h in (8, 23) else 0 for h in range(24)]
    assert data["resolved"] == [1, 1, 2]
    # Open at the start: c0 and February's open one. Day 1: +2 -1; day 2: +2 -1; day 3: +1 -2.
    assert s["backlog_start"] == 2
    assert data["backlog"] == [3, 4, 3]
    assert s["backlog_end"] == 3


def test_report_per_agent_and_team(desk):
    data = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}").json()

    agents = {row["name"]: row for row in data["agents"]}
    assert [row["name"] for row in data["agents"]] == ["Ana", "Ben", "Unassigned"]
    # Ana: created c1, c2; answered 60, 300 (p90: 60 + 0.9 * 240); resolved c1, c2, c0:
    # 3600, 172800, 345600 (p90 at rank 1.8: 172800 + 0.8 * 172800).
    assert agents["Ana"]["created"] == 2
    assert agents["Ana"]["resolved"] == 3
    assert agents["Ana"]["first_response"] == {"count": 2, "median": 180.0, "p90": 276.0}
    assert agents["Ana"]["resolution"] == {"count": 3, "median": 172800.0, "p90": 311040.0}
    assert agents["Ben"]["created"] == 2
    assert agents["Ben"]["first_response"] == {"count": 2, "median": 900.0, "p90": 1140.0}
    assert agents["Ben"]["resolution"] == {"count": 1, "median": 3600.0, "p90": 3600.0}
    assert agents["Unassigned"]["created"] == 1
    assert agents["Unassigned"]["first_response"] == {"count": 0, "median": None, "p90": None}
    teams = {row["name"]: row for row in data["teams"]}
    assert set(teams) == {"Support", "Billing"}
    assert (teams["Support"]["created"], teams["Support"]["resolved"]) == (3, 3)
    assert teams["Support"]["resolution"] == agents["Ana"]["resolution"]
    assert (teams["Billing"]["created"], teams["Billing"]["resolved"]) == (2, 1)
    assert teams["Billing"]["first_response"] == {"count": 2, "median": 900.0, "p90": 1140.0}


def test_report_filters_by_team_channel_and_agent(desk):
    boss = client_for(desk["boss"])

    billing = boss.get(f"/api/v1/reports?{PERIOD}&team={desk['billing'].pk}").json()
    assert billing["volume"] == {"email": [0, 2, 0]}
    # February's open Billing conversation; day 2: +2 (c3, c4) -1 (c3).
    assert billing["backlog"] == [1, 2, 2]
    assert [row["name"] for row in billing["teams"]] == ["Billing"]

    sms = boss.get(f"/api/v1/reports?{PERIOD}&channel=sms").json()
    assert sms["summary"]["created"] == 3
    assert sms["summary"]["first_response"] == {"count": 2, "median": 180.0, "p90": 276.0}

    ben = boss.get(f"/api/v1/reports?{PERIOD}&agent={desk['ben'].pk}").json()
    assert ben["summary"]["created"] == 2
    assert [row["name"] for row in ben["agents"]] == ["Ben"]


def test_report_days_and_hours_follow_the_time_zone(desk):
    # In New York (UTC-5 in early March), c4 (2 March 23:00 UTC) is 2 March 18:00 and c1
    # (1 March 09:00 UTC) is 04:00; c2 is 09:30, c5 (3 March 12:00 UTC) 07:00.
    data = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}&tz=America/New_York").json()

    assert data["buckets"][0] == "2026-03-01T00:00:00-05:00"
    assert data["volume"]["email"] == [0, 2, 0]
    assert data["by_hour"]["sms"] == [1 if h in (4, 7, 9) else 0 for h in range(24)]


def test_a_short_period_is_shown_by_the_hour(desk):
    data = client_for(desk["boss"]).get("/api/v1/reports?from=2026-03-02&to=2026-03-02").json()

    assert data["period"]["bucket"] == "hour"
    assert len(data["buckets"]) == 24
    assert data["volume"]["email"] == [1 if h in (8, 23) else 0 for h in range(24)]


def test_report_csv_export(desk):
    response = client_for(desk["boss"]).get(f"/api/v1/reports.csv?{PERIOD}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="report-2026-03-01-2026-03-03.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    ana, ben = desk["ana"].pk, desk["ben"].pk
    assert rows[:4] == [
        [
            "scope", "id", "name", "created", "resolved", "first_response_count", "first_response_median_s",
            "first_response_p90_s", "resolution_count", "resolution_median_s", "resolution_p90_s",
            "sla_attainment", "csat",
        ],
        ["total", "", "All", "5", "4", "4", "450", "1020", "4", "88200", "293760", "", ""],
        ["agent", str(ana), "Ana", "2", "3", "2", "180", "276", "3", "172800", "311040", "", ""],
        ["agent", str(ben), "Ben", "2", "1", "2", "900", "1140", "1", "3600", "3600", "", ""],
    ]  # fmt: skip
    assert rows[4][:5] == ["agent", "", "Unassigned", "1", "0"]
    series = rows[rows.index([]) + 1 :]
    assert series == [
        ["bucket", "created_email", "created_sms", "resolved", "backlog"],
        ["2026-03-01T00:00:00+00:00", "0", "2", "1", "3"],
        ["2026-03-02T00:00:00+00:00", "2", "0", "1", "4"],
        ["2026-03-03T00:00:00+00:00", "0", "1", "2", "3"],
    ]


def test_csv_cells_that_look_like_formulas_are_quoted(desk):
    desk["ana"].display_name = "=HYPERLINK(1)"
    desk["ana"].save()

    rows = list(csv.reader(io.StringIO(client_for(desk["boss"]).get(f"/api/v1/reports.csv?{PERIOD}").content.decode())))

    assert rows[2][:3] == ["agent", str(desk["ana"].pk), "'=HYPERLINK(1)"]


def test_agents_may_not_see_reports(desk):
    ana = client_for(desk["ana"])

    for path in ("/api/v1/reports", "/api/v1/reports.csv"):
        response = ana.get(f"{path}?{PERIOD}")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert APIClient().get(f"/api/v1/reports?{PERIOD}").status_code in (401, 403)


def test_bad_report_parameters_are_clear_errors(desk):
    boss = client_for(desk["boss"])

    assert boss.get("/api/v1/reports?from=2026-03-05&to=2026-03-01").json()["error"]["code"] == "invalid_period"
    assert boss.get("/api/v1/reports?from=2024-01-01&to=2026-03-01").json()["error"]["code"] == "invalid_period"
    assert boss.get("/api/v1/reports?from=yesterday").json()["error"]["code"] == "invalid_from"
    assert boss.get("/api/v1/reports?tz=Mars/Olympus").json()["error"]["code"] == "invalid_tz"
    assert boss.get("/api/v1/reports?channel=pigeon").json()["error"]["code"] == "invalid_channel"


def test_sla_and_csat_come_from_registered_sources(desk):
    seen = []

    def sla(filters):
        seen.append(filters)
        return MetricResult(value=0.75, count=4, agents={desk["ana"].pk: (0.5, 2)})

    registered = metric_source("sla")  # the SLA app's own source (apps.reports.metrics)
    register_metric("sla", sla)
    try:
        data = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}&team={desk['support'].pk}").json()
    finally:
        unregister_metric("sla")
        if registered is not None:
            register_metric("sla", registered)

    assert seen[0].team_id == desk["support"].pk
    assert seen[0].start == at(1, 0) and seen[0].end == at(4, 0)
    assert data["summary"]["sla"] == {"value": 0.75, "count": 4}
    assert data["summary"]["csat"] is None
    agents = {row["name"]: row for row in data["agents"]}
    assert agents["Ana"]["sla"] == {"value": 0.5, "count": 2}
    assert agents["Unassigned"]["sla"] is None


def test_report_query_count_does_not_grow_with_rows(desk, django_assert_max_num_queries):
    boss = client_for(desk["boss"])
    boss.get(f"/api/v1/reports?{PERIOD}")  # warm the token and session caches
    for _ in range(3):
        conv = ConversationFactory(inbox=desk["sms"], team=desk["support"], assignee=desk["ben"])
        Conversation.objects.filter(pk=conv.pk).update(created_at=at(2, 12))

    with django_assert_max_num_queries(20):
        assert boss.get(f"/api/v1/reports?{PERIOD}").status_code == 200


def test_write_path_keeps_first_response_and_resolution_facts(agent, sms_inbox, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(inbox=sms_inbox, assignee=agent, waiting_since=None)
    # An agent writing first (no customer waiting) is not a first response.
    with django_capture_on_commit_callbacks(execute=False):
        message_send(conversation_id=conversation.pk, agent=agent, body="Hello from us", kind=Message.Kind.NOTE)
    conversation.refresh_from_db()
    assert conversation.first_response_at is None

    identity = IdentityFactory()
    waiting = ConversationFactory(inbox=sms_inbox, assignee=agent, contact=identity.contact, last_identity=identity)
    Conversation.objects.filter(pk=waiting.pk).update(waiting_since=dt.datetime.now(UTC) - dt.timedelta(seconds=90))
    with django_capture_on_commit_callbacks(execute=False):
        message_send(conversation_id=waiting.pk, agent=agent, body="We are on it", kind=Message.Kind.NOTE)
    waiting.refresh_from_db()
    assert waiting.first_response_at is None  # a private note answers nobody
    with django_capture_on_commit_callbacks(execute=False):
        first, _ = message_send(conversation_id=waiting.pk, agent=agent, body="Fixed it")
    waiting.refresh_from_db()
    assert waiting.first_response_at == first.created_at
    assert 90 <= waiting.first_response_seconds < 120
    Conversation.objects.filter(pk=waiting.pk).update(waiting_since=dt.datetime.now(UTC))
    with django_capture_on_commit_callbacks(execute=False):
        message_send(conversation_id=waiting.pk, agent=agent, body="Anything else?")
    waiting.refresh_from_db()
    assert waiting.first_response_at == first.created_at  # only the first answer counts

    with django_capture_on_commit_callbacks(execute=False):
        conversation_update(conversation_id=waiting.pk, by=agent, status="resolved")
    waiting.refresh_from_db()
    assert waiting.resolved_at is not None
    with django_capture_on_commit_callbacks(execute=False):
        conversation_update(conversation_id=waiting.pk, by=agent, status="open")
    waiting.refresh_from_db()
    assert waiting.resolved_at is None


def test_backfill_migration_derives_the_facts_from_stored_messages(agent, sms_inbox):
    backfill = importlib.import_module("apps.conversations.migrations.0007_reports_backfill").backfill
    identity = IdentityFactory()
    answered = ConversationFactory(inbox=sms_inbox, contact=identity.contact, status="resolved", last_seq=5)
    unanswered = ConversationFactory(inbox=sms_inbox, contact=identity.contact, status="resolved", last_seq=1)
    agent_first = ConversationFactory(inbox=sms_inbox, contact=identity.contact, last_seq=3)
    t0 = at(1, 9)

    def msg(c, seq, direction, minutes, kind="message", sender=None, body="text"):
        Message.objects.create(
            conversation=c, seq=seq, inbox=sms_inbox, direction=direction, kind=kind, sender=sender, body=body,
            status="", created_at=t0 + dt.timedelta(minutes=minutes),
        )  # fmt: skip

    msg(answered, 1, "in", 0)
    msg(answered, 2, "out", 3, kind="note", sender=agent)  # a note answers nobody
    msg(answered, 3, "out", 7, sender=None)  # an automatic reply (no sender) neither
    msg(answered, 4, "out", 12, sender=agent)  # the first answer: 12 minutes
    msg(answered, 5, "out", 30, kind="activity", sender=agent, body="Ana resolved this")
    msg(unanswered, 1, "in", 0)
    Conversation.objects.filter(pk=unanswered.pk).update(last_activity_at=t0 + dt.timedelta(hours=5))
    msg(agent_first, 1, "out", 0, sender=agent)  # the agent wrote first: not an answer
    msg(agent_first, 2, "in", 60)
    msg(agent_first, 3, "out", 65, sender=agent)  # answered 5 minutes after the customer wrote

    backfill(None, SimpleNamespace(connection=connection))
    backfill(None, SimpleNamespace(connection=connection))  # a second run changes nothing

    rows = {
        c.pk: (c.first_response_at, c.first_response_seconds, c.resolved_at)
        for c in Conversation.objects.filter(pk__in=[answered.pk, unanswered.pk, agent_first.pk])
    }
    assert rows[answered.pk] == (t0 + dt.timedelta(minutes=12), 720, t0 + dt.timedelta(minutes=30))
    assert rows[unanswered.pk] == (None, None, t0 + dt.timedelta(hours=5))  # no activity: the last one
    assert rows[agent_first.pk] == (t0 + dt.timedelta(minutes=65), 300, None)


def test_a_channel_without_inboxes_reports_zeros(desk):
    data = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}&channel=telegram").json()

    assert data["summary"]["created"] == 0
    assert data["summary"]["first_response"] == {"count": 0, "median": None, "p90": None}
    assert data["volume"] == {} and data["backlog"] == [0, 0, 0]
    assert data["agents"] == [] and data["teams"] == []


def test_sla_attainment_and_csat_from_the_clocks_and_the_surveys(desk):
    """The registered sources (apps.reports.metrics): SLA attainment over the period's conversations
    that had a clock, CSAT over the surveys answered in it; per agent and team."""
    c1, c2, c3, c4 = Conversation.objects.filter(created_at__gte=at(1, 0), created_at__lt=at(3, 0)).order_by(
        "created_at"
    )
    ConversationSla.objects.create(conversation=c1, started_at=at(1, 9))  # met
    ConversationSla.objects.create(conversation=c2, started_at=at(1, 14), resolution_breached=True)
    ConversationSla.objects.create(conversation=c3, started_at=at(2, 8))  # met
    ConversationSla.objects.create(conversation=c4, started_at=at(2, 23), first_response_breached=True)
    Survey.objects.create(conversation=c1, agent=desk["ana"], status="answered", rating=5, answered_at=at(1, 11))
    Survey.objects.create(conversation=c2, agent=desk["ana"], status="answered", rating=2, answered_at=at(3, 15))
    Survey.objects.create(conversation=c3, agent=desk["ben"], status="answered", rating=4, answered_at=at(2, 10))
    Survey.objects.create(conversation=c4, agent=desk["ben"], status="sent")  # not answered: not counted

    data = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}").json()

    assert data["summary"]["sla"] == {"value": 0.5, "count": 4}  # c1 and c3 of four
    assert data["summary"]["csat"] == {"value": 3.67, "count": 3}  # (5 + 2 + 4) / 3
    agents = {row["name"]: row for row in data["agents"]}
    assert agents["Ana"]["sla"] == {"value": 0.5, "count": 2}
    assert agents["Ben"]["sla"] == {"value": 0.5, "count": 2}
    assert agents["Ana"]["csat"] == {"value": 3.5, "count": 2}
    assert agents["Ben"]["csat"] == {"value": 4.0, "count": 1}
    billing = client_for(desk["boss"]).get(f"/api/v1/reports?{PERIOD}&team={desk['billing'].pk}").json()
    assert billing["summary"]["sla"] == {"value": 0.5, "count": 2}  # c3 met, c4 breached
