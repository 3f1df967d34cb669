"""Assignment strategies (round robin, least busy, skills), each within capacity and presence,
chosen per inbox or per team."""

from __future__ import annotations

import pytest

from apps.assignment.services import presence_set
from apps.conversations.models import Conversation
from apps.dispatch.models import AgentSkill, InboxRouting, Skill, Strategy, TeamRouting
from tests.factories import AgentFactory
from tests.routing.conftest import online, rule

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def carl(sms_inbox, team):
    carl = AgentFactory(username="carl", display_name="Carl")
    sms_inbox.members.add(carl)
    team.members.add(carl)
    return carl


def assignee(conversation: Conversation) -> int | None:
    return Conversation.objects.get(pk=conversation.pk).assignee_id


def test_least_busy_gives_to_the_agent_with_fewest_open_conversations(write, agent, other_agent, sms_inbox):
    InboxRouting.objects.create(inbox=sms_inbox, strategy=Strategy.LEAST_BUSY)
    online(agent)
    early = [write("one"), write("two")]  # ana alone: both hers
    assert [assignee(c) for c in early] == [agent.pk, agent.pk]
    online(other_agent)  # ben comes online with nothing; the drain finds nothing waiting
    # Round robin would alternate (ben was never given one, then ana...); least busy fills ben
    # up to ana's load first.
    later = [write("three"), write("four"), write("five")]
    assert [assignee(c) for c in later] == [other_agent.pk, other_agent.pk, agent.pk]


def test_least_busy_respects_capacity_and_presence(write, agent, other_agent, carl, sms_inbox):
    InboxRouting.objects.create(inbox=sms_inbox, strategy=Strategy.LEAST_BUSY)
    agent.max_conversations = 1
    agent.save(update_fields=["max_conversations"])
    online(agent, other_agent)
    presence_set(agent_id=carl.pk, status="away")
    conversations = [write(f"m{i}") for i in range(4)]
    # ana takes one (capacity 1), ben the rest; away carl nothing.
    assert sorted(assignee(c) for c in conversations) == sorted(
        [agent.pk, other_agent.pk, other_agent.pk, other_agent.pk]
    )


def test_skills_strategy_only_gives_to_agents_with_every_required_skill(
    write, agent, other_agent, carl, sms_inbox, team
):
    TeamRouting.objects.create(team=team, strategy=Strategy.SKILLS)  # the team's strategy wins
    InboxRouting.objects.create(inbox=sms_inbox, strategy=Strategy.ROUND_ROBIN)
    french, billing = Skill.objects.create(name="lang:fr"), Skill.objects.create(name="billing")
    AgentSkill.objects.create(agent=other_agent, skill=french)
    AgentSkill.objects.create(agent=carl, skill=french)
    AgentSkill.objects.create(agent=carl, skill=billing)
    rule("French billing", keywords=["facture"], skills=[french, billing])
    rule("French", keywords=["bonjour"], skills=[french])
    online(agent, other_agent, carl)
    assert assignee(write("ma facture est fausse")) == carl.pk
    assert assignee(write("bonjour")) == other_agent.pk  # least busy of ben and carl
    assert assignee(write("hello")) == agent.pk  # nothing required: anyone, least busy


def test_skills_wait_when_nobody_skilled_has_room(write, agent, other_agent, sms_inbox):
    InboxRouting.objects.create(inbox=sms_inbox, strategy=Strategy.SKILLS)
    french = Skill.objects.create(name="lang:fr")
    AgentSkill.objects.create(agent=other_agent, skill=french)
    other_agent.max_conversations = 1
    other_agent.save(update_fields=["max_conversations"])
    rule("French", keywords=["bonjour"], skills=[french])
    online(agent, other_agent)
    first, second = write("bonjour"), write("bonjour encore")
    assert assignee(first) == other_agent.pk
    assert assignee(second) is None  # ana has room but not the skill: it waits for ben
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.RESOLVED)
    presence_set(agent_id=other_agent.pk, status="offline")
    online(other_agent)  # back online: the drain reads the waiting conversation's skills
    assert assignee(second) == other_agent.pk


def test_round_robin_stays_the_default(write, agent, other_agent):
    online(agent, other_agent)
    conversations = [write(f"m{i}") for i in range(4)]
    assert [assignee(c) for c in conversations] == [agent.pk, other_agent.pk, agent.pk, other_agent.pk]


def test_rules_route_to_a_team_whose_members_take_it(write, agent, other_agent, rnd, sms_inbox):
    sms_inbox.members.add(other_agent)
    rnd.members.add(other_agent)
    rule("Bugs", keywords=["crash"], team=rnd)
    online(agent, other_agent)
    bug = write("it crashes")
    assert assignee(bug) == other_agent.pk  # only ben is in R&D
    # An R&D conversation waits for R&D, even if ana (Support) has room.
    other_agent.max_conversations = 1
    other_agent.save(update_fields=["max_conversations"])
    assert assignee(write("crash again")) is None


def test_the_queue_hands_out_the_most_urgent_first(write, agent, sms_inbox):
    rule("Outage", keywords=["down"], priority=Conversation.Priority.URGENT)
    early = write("a question about my invoice")
    urgent = write("everything is down")
    agent.max_conversations = 1
    agent.save(update_fields=["max_conversations"])
    online(agent)  # the drain: room for one
    assert (assignee(early), assignee(urgent)) == (None, agent.pk)
