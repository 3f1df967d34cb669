"""SLA clocks kept from the event log, pauses, breaches (once) and escalations, the due sort."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.bus.models import Event
from apps.conversations.models import Conversation, Message
from apps.sla.calendar import Calendar
from apps.sla.models import BusinessCalendar, ConversationSla, EscalationRule, Holiday, SlaBreach, SlaPolicy
from apps.sla.selectors import sla_breaches_by_target
from apps.sla.services import (
    policy_match,
    sla_breach_record,
    sla_breaches_record,
    sla_clocks_catch_up,
    sla_config_save,
    sla_sweep,
)
from tests.conftest import twilio_params
from tests.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

MIN = dt.timedelta(minutes=1)


def newest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.fixture
def policy(sms_inbox) -> SlaPolicy:
    return SlaPolicy.objects.create(
        name="SMS", inbox=sms_inbox, first_response_minutes=30, resolution_minutes=240, business_hours=False
    )


def text_in(post_twilio, number: str = "+14155552671", body: str = "My router is down") -> Conversation:
    assert post_twilio(**twilio_params(From=number, Body=body)).status_code == 200
    return Conversation.objects.filter(contact__identities__address=number).latest("id")


def clock(conversation: Conversation) -> ConversationSla:
    return ConversationSla.objects.get(conversation=conversation)


def test_a_new_conversation_gets_due_times_from_its_policy(post_twilio, policy, api):
    conversation = text_in(post_twilio)
    start = newest_event_id()
    assert sla_clocks_catch_up() >= 2

    row = clock(conversation)
    assert row.policy_id == policy.pk
    assert row.started_at == conversation.waiting_since
    assert row.first_response_due_at == conversation.waiting_since + 30 * MIN
    assert row.resolution_due_at == conversation.waiting_since + 240 * MIN
    assert (row.next_due_at, row.next_target) == (row.first_response_due_at, "first_response")
    updates = list(Event.objects.filter(id__gt=start))
    assert [(e.type, e.conversation_id) for e in updates] == [("sla.updated", conversation.pk)]
    assert updates[0].data["sla"]["next_target"] == "first_response"

    item = api.get("/api/v1/conversations").json()["results"][0]
    assert item["sla"]["next_due_at"].startswith(row.next_due_at.strftime("%Y-%m-%dT%H:%M"))
    assert item["sla"]["paused"] is False
    assert sla_clocks_catch_up() == 0  # the position is kept: nothing read twice


def test_conversations_no_policy_matches_show_no_clock(post_twilio, api, sms_inbox):
    SlaPolicy.objects.create(name="Urgent only", priority=4, first_response_minutes=5)
    conversation = text_in(post_twilio)
    start = newest_event_id()
    sla_clocks_catch_up()
    assert clock(conversation).policy_id is None
    assert not Event.objects.filter(id__gt=start).exists()  # consoles are not told about nothing
    assert api.get("/api/v1/conversations").json()["results"][0]["sla"] is None


def test_an_agent_reply_meets_the_first_response_target(post_twilio, policy, api):
    conversation = text_in(post_twilio)
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "Looking", "client_id": "r1"}, format="json")
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "a note", "kind": "note"}, format="json")
    sla_clocks_catch_up()
    row = clock(conversation)
    reply = Message.objects.get(client_id="r1")
    assert row.first_responded_at == reply.created_at
    assert (row.next_due_at, row.next_target) == (row.resolution_due_at, "resolution")


def test_pending_pauses_the_clock_and_reopening_shifts_the_due_times(post_twilio, policy, api):
    conversation = text_in(post_twilio)
    started = conversation.waiting_since
    sla_clocks_catch_up()
    mark = newest_event_id()
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "pending"}, format="json")
    paused = Event.objects.get(id__gt=mark, type="conversation.updated")
    Event.objects.filter(pk=paused.pk).update(created_at=started + 10 * MIN)
    sla_clocks_catch_up()
    row = clock(conversation)
    assert row.paused_at == started + 10 * MIN
    assert row.next_due_at is None  # nothing counts while the customer is the one to answer
    assert sla_breaches_record(now=started + 500 * MIN) == 0

    mark = newest_event_id()
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "open"}, format="json")
    resumed = Event.objects.get(id__gt=mark, type="conversation.updated")
    Event.objects.filter(pk=resumed.pk).update(created_at=started + 70 * MIN)
    sla_clocks_catch_up()
    row = clock(conversation)
    assert row.paused_at is None and row.paused_seconds == 3600
    assert row.first_response_due_at == started + 90 * MIN  # 30 minutes + the hour spent pending
    assert row.resolution_due_at == started + 300 * MIN


def test_resolving_stops_the_clock_and_the_customer_writing_again_starts_a_new_cycle(post_twilio, policy, api):
    conversation = text_in(post_twilio)
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "resolved"}, format="json")
    sla_clocks_catch_up()
    row = clock(conversation)
    assert row.resolved_at is not None and row.next_due_at is None and row.cycle == 1

    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "open"}, format="json")
    sla_clocks_catch_up()
    row = clock(conversation)
    assert row.cycle == 2 and row.resolved_at is None and row.first_responded_at is None
    assert row.first_response_due_at == row.started_at + 30 * MIN


def test_a_breach_is_recorded_once_and_runs_its_escalations(post_twilio, policy, agent, other_agent):
    tier2 = TeamFactory(name="Tier 2")
    boss = AgentFactory(username="sue", display_name="Sue", role="supervisor")
    conversation = text_in(post_twilio)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=other_agent)
    conversation.team.members.add(boss)
    EscalationRule.objects.create(policy=policy, target="first_response", action="notify")
    EscalationRule.objects.create(policy=policy, target="first_response", action="priority", priority=4)
    EscalationRule.objects.create(policy=policy, target="first_response", action="team", team=tier2)
    sla_clocks_catch_up()
    due = clock(conversation).first_response_due_at
    assert sla_breaches_record(now=due - MIN) == 0  # not yet

    start = newest_event_id()
    assert sla_breaches_record(now=due + MIN) == 1
    assert sla_breaches_record(now=due + 2 * MIN) == 0  # exactly once
    assert sla_sweep()["breaches"] == 0
    # The constraint, not the bookkeeping, is what makes it once: a racing sweep that read the
    # clock before the breach was recorded records nothing and escalates nothing.
    stale = clock(conversation)
    stale.first_response_breached = False
    assert sla_breach_record(row=stale, target="first_response", due_at=due, at=due + 3 * MIN) == 0
    assert clock(conversation).first_response_breached is True

    breach = SlaBreach.objects.get()
    assert (breach.target, breach.cycle, breach.due_at, breach.assignee_id) == (
        "first_response",
        1,
        due,
        other_agent.pk,
    )
    conversation.refresh_from_db()
    assert (conversation.priority, conversation.team_id, conversation.assignee_id) == (4, tier2.pk, None)
    timeline = list(Message.objects.filter(conversation=conversation, kind="activity").order_by("seq"))
    assert timeline[0].body.startswith("SLA breached: first response was due")
    assert timeline[0].meta["sla"]["target"] == "first_response"
    assert [m.body for m in timeline[1:]] == [
        "The system set priority to Urgent",
        "The system unassigned this",
        "The system moved this to team Tier 2",
    ]
    events = list(Event.objects.filter(id__gt=start).order_by("id"))
    assert [e.type for e in events if e.type == "sla.breached"] == ["sla.breached"]
    notified = sorted(e.agent_id for e in events if e.type == "notification.created")
    assert notified == sorted([other_agent.pk, boss.pk])
    assert {e.data["kind"] for e in events if e.type == "notification.created"} == {"sla_breach"}
    assert sla_breaches_by_target(since=due, until=due + 5 * MIN) == [
        {"policy": policy.pk, "target": "first_response", "breaches": 1}
    ]


def test_the_most_specific_policy_wins(sms_inbox, team):
    anywhere = SlaPolicy.objects.create(name="Desk", first_response_minutes=60)
    inbox = SlaPolicy.objects.create(name="Inbox", inbox=sms_inbox, first_response_minutes=30)
    by_team = SlaPolicy.objects.create(name="Team", team=team, first_response_minutes=20)
    urgent = SlaPolicy.objects.create(name="Urgent", priority=4, first_response_minutes=5)
    policies = list(SlaPolicy.objects.order_by("id"))
    assert policy_match(policies, inbox_id=sms_inbox.pk, team_id=team.pk, priority=4) == urgent
    assert policy_match(policies, inbox_id=sms_inbox.pk, team_id=team.pk, priority=0) == by_team
    assert policy_match(policies, inbox_id=sms_inbox.pk, team_id=None, priority=0) == inbox
    assert policy_match(policies, inbox_id=sms_inbox.pk + 1, team_id=None, priority=0) == anywhere


def test_the_list_sorts_by_due_time_in_keyset_pages(post_twilio, policy, api):
    numbers = [f"+1415555{n:04d}" for n in range(5)]
    conversations = [text_in(post_twilio, number) for number in numbers]
    sla_clocks_catch_up()
    # Give them different due times; two have nothing due (one no clock, one resolved).
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for minutes, c in zip((30, 10, 20), conversations[:3], strict=True):
        ConversationSla.objects.filter(pk=c.pk).update(next_due_at=base + minutes * MIN)
    ConversationSla.objects.filter(pk=conversations[3].pk).update(next_due_at=None)
    ConversationSla.objects.filter(pk=conversations[4].pk).delete()

    seen: list[int] = []
    url = "/api/v1/conversations?sort=due&limit=2"
    while url:
        body = api.get(url).json()
        seen += [c["id"] for c in body["results"]]
        url = f"/api/v1/conversations?sort=due&limit=2&before={body['next']}" if body["next"] else ""
    by_activity = sorted(conversations[3:], key=lambda c: (c.last_activity_at, c.pk), reverse=True)
    assert seen == [conversations[1].pk, conversations[2].pk, conversations[0].pk] + [c.pk for c in by_activity]
    wrong = api.get("/api/v1/conversations?sort=recent&before=d1_1")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_cursor"


def test_mine_sorted_by_due_reads_the_agents_own_clocks_in_the_same_order(post_twilio, policy, api, agent):
    from apps.api import selectors

    numbers = [f"+1415556{n:04d}" for n in range(6)]
    conversations = [text_in(post_twilio, number) for number in numbers]
    sla_clocks_catch_up()
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    # Four of Ana's (one with nothing due), two of a colleague's with the earliest due times.
    colleague = AgentFactory()
    for minutes, c in zip((40, 10, 30, 5, 1), conversations[:5], strict=True):
        ConversationSla.objects.filter(pk=c.pk).update(next_due_at=base + minutes * MIN)
    ConversationSla.objects.filter(pk=conversations[5].pk).update(next_due_at=None)
    Conversation.objects.filter(pk__in=[c.pk for c in conversations[:3]] + [conversations[5].pk]).update(assignee=agent)
    Conversation.objects.filter(pk__in=[c.pk for c in conversations[3:5]]).update(assignee=colleague)

    def pages(cap: int) -> list[int]:
        settings_cap, selectors.DUE_OF_ONE_AGENT_MAX = selectors.DUE_OF_ONE_AGENT_MAX, cap
        try:
            seen: list[int] = []
            url = "/api/v1/conversations?view=mine&sort=due&limit=2"
            while url:
                body = api.get(url).json()
                seen += [c["id"] for c in body["results"]]
                url = f"/api/v1/conversations?view=mine&sort=due&limit=2&before={body['next']}" if body["next"] else ""
            return seen
        finally:
            selectors.DUE_OF_ONE_AGENT_MAX = settings_cap

    expected = [conversations[1].pk, conversations[2].pk, conversations[0].pk, conversations[5].pk]
    assert pages(2000) == expected  # read from Ana's own clocks
    assert pages(1) == expected  # more than the cap: the walk of the due index, same order


def test_a_resolved_conversation_has_nothing_due_even_before_its_clock_catches_up(post_twilio, policy, api, agent):
    """The SLA sweep applies a resolution to the clock a moment later; meanwhile the resolved
    conversation is not listed as due (nor is it lost): it is with the ones with nothing due."""
    early, late = text_in(post_twilio, "+14155557001"), text_in(post_twilio, "+14155557002")
    sla_clocks_catch_up()
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    ConversationSla.objects.filter(pk=early.pk).update(next_due_at=base)
    ConversationSla.objects.filter(pk=late.pk).update(next_due_at=base + 10 * MIN)
    Conversation.objects.filter(pk__in=[early.pk, late.pk]).update(assignee=agent)
    Conversation.objects.filter(pk=early.pk).update(status=Conversation.Status.RESOLVED)  # clock not told yet

    for view in ("all", "mine"):
        for limit in (1, 50):
            seen: list[int] = []
            url = f"/api/v1/conversations?view={view}&sort=due&limit={limit}"
            while url:
                body = api.get(url).json()
                seen += [c["id"] for c in body["results"]]
                url = (
                    f"/api/v1/conversations?view={view}&sort=due&limit={limit}&before={body['next']}"
                    if body["next"]
                    else ""
                )
            assert seen == [late.pk, early.pk], (view, limit)


def test_changing_a_policy_moves_the_open_clocks_only(post_twilio, policy, api):
    open_one = text_in(post_twilio, "+14155550001")
    done = text_in(post_twilio, "+14155550002")
    api.patch(f"/api/v1/conversations/{done.pk}", {"status": "resolved"}, format="json")
    sla_clocks_catch_up()
    resolved_due = clock(done).first_response_due_at
    start = newest_event_id()
    sla_config_save(model=SlaPolicy, pk=policy.pk, data={"first_response_minutes": 10})
    assert clock(open_one).first_response_due_at == open_one.waiting_since + 30 * MIN  # not in the request
    assert sla_sweep()["retargeted"] == 1
    assert sla_sweep()["retargeted"] == 0  # once per change
    assert clock(open_one).first_response_due_at == open_one.waiting_since + 10 * MIN
    assert clock(done).first_response_due_at == resolved_due
    moved = [e.conversation_id for e in Event.objects.filter(id__gt=start, type="sla.updated")]
    assert moved == [open_one.pk]


def test_due_times_count_the_teams_business_hours_and_holidays(post_twilio, sms_inbox, team):
    week = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    BusinessCalendar.objects.create(name="Desk", tz="UTC", week={"sat": [["10:00", "11:00"]]})
    BusinessCalendar.objects.create(name="Support", tz="America/New_York", week=week, team=team)
    Holiday.objects.create(date=dt.date(2099, 1, 1), name="Far away")
    SlaPolicy.objects.create(name="Business", inbox=sms_inbox, first_response_minutes=90, resolution_minutes=600)
    conversation = text_in(post_twilio)
    sla_clocks_catch_up()
    row = clock(conversation)
    expected = Calendar(tz="America/New_York", week=week, holidays=frozenset({dt.date(2099, 1, 1)}))
    assert row.first_response_due_at == expected.add(row.started_at, 90 * 60)
    assert row.resolution_due_at == expected.add(row.started_at, 600 * 60)
    assert row.first_response_due_at >= row.started_at + 90 * MIN
