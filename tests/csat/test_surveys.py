"""Satisfaction: one question after resolve on the customer's channel, through the outbox, once;
a reply 1-5 is its answer (the conversation stays resolved), opt-outs and WhatsApp's window kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.bus.models import Event, OutboxEntry
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from apps.csat.models import Survey
from apps.csat.selectors import csat_summary
from apps.csat.services import csat_surveys_send, survey_answer_parse, survey_send
from tests.conftest import twilio_params

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "+14155552671"


def text_in(post_twilio, body: str, number: str = CUSTOMER) -> None:
    assert post_twilio(**twilio_params(From=number, Body=body)).status_code == 200


@pytest.fixture
def resolved(post_twilio, api) -> Conversation:
    """Ana answered the customer's SMS and resolved the conversation."""
    text_in(post_twilio, "My router is down")
    conversation = Conversation.objects.get()
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "Fixed!", "client_id": "r1"}, format="json")
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "resolved"}, format="json")
    return conversation


def test_resolving_sends_one_question_on_the_customers_channel_through_the_outbox(resolved, agent):
    assert csat_surveys_send() == 1
    assert csat_surveys_send() == 0
    assert survey_send(conversation_id=resolved.pk) is None  # once: the constraint, not luck

    survey = Survey.objects.get()
    assert (survey.status, survey.channel, survey.agent_id) == ("sent", "phone", agent.pk)
    question = Message.objects.get(pk=survey.message_id)
    assert question.body.startswith("How did we do? Reply with a number from 1 (poor) to 5 (great)")
    assert (question.direction, question.identity.address) == ("out", CUSTOMER)
    assert OutboxEntry.objects.filter(message_id=question.pk).count() == 1
    resolved.refresh_from_db()
    assert resolved.status == "resolved"


def test_a_reply_with_a_number_is_the_answer_not_a_new_conversation(resolved, post_twilio, api, agent):
    csat_surveys_send()
    start = Event.objects.order_by("-id").values_list("id", flat=True)[0]
    text_in(post_twilio, "4 - quick and friendly")

    assert Conversation.objects.count() == 1
    resolved.refresh_from_db()
    assert resolved.status == "resolved" and resolved.waiting_since is None
    survey = Survey.objects.get()
    assert (survey.status, survey.rating, survey.comment) == ("answered", 4, "quick and friendly")
    answer = Message.objects.filter(conversation=resolved, direction="in").latest("seq")
    assert answer.body == "4 - quick and friendly"
    activity = Message.objects.filter(conversation=resolved, kind="activity").latest("seq")
    assert activity.body == "The customer rated this 4/5: “quick and friendly”"
    answered = Event.objects.get(id__gt=start, type="csat.answered")
    assert answered.data == {
        "conversation": resolved.pk,
        "rating": 4,
        "comment": "quick and friendly",
        "agent": agent.pk,
    }
    seen = api.get(f"/api/v1/conversations/{resolved.pk}/satisfaction").json()
    assert (seen["rating"], seen["agent"]) == (4, agent.pk)

    text_in(post_twilio, "5")  # answered already: this is a new matter
    assert Conversation.objects.count() == 2
    assert Survey.objects.get().rating == 4


def test_anything_else_after_the_survey_opens_a_new_conversation(resolved, post_twilio):
    csat_surveys_send()
    text_in(post_twilio, "12 more routers are down")
    assert Conversation.objects.count() == 2
    assert Survey.objects.get().status == "sent"


def test_a_late_reply_is_not_taken_as_the_answer(resolved, post_twilio, settings):
    csat_surveys_send()
    Survey.objects.update(created_at=timezone.now() - dt.timedelta(seconds=settings.CSAT_REPLY_WINDOW + 60))
    text_in(post_twilio, "3")
    assert Conversation.objects.count() == 2
    assert Survey.objects.get().rating is None


def test_an_opted_out_customer_is_not_asked(resolved):
    Identity.objects.filter(address=CUSTOMER).update(opted_out=True)
    before = OutboxEntry.objects.count()
    csat_surveys_send()
    survey = Survey.objects.get()
    assert (survey.status, survey.skip_reason, survey.message_id) == ("skipped", "opted_out", None)
    assert OutboxEntry.objects.count() == before


def test_outside_the_whatsapp_window_no_question_is_sent(receive_sms, api):
    inbound = receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006", Body="Hi", WaId="14155552671")
    conversation = inbound.conversation
    api.post(f"/api/v1/conversations/{conversation.pk}/messages", {"body": "Hello", "client_id": "r1"}, format="json")
    api.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "resolved"}, format="json")
    Message.objects.filter(pk=inbound.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    before = Message.objects.count()
    csat_surveys_send()
    survey = Survey.objects.get()
    assert (survey.status, survey.skip_reason) == ("skipped", "reply_window_closed")
    assert Message.objects.count() == before


def test_the_survey_page_records_an_answer_once(client, resolved):
    Identity.objects.filter(address=CUSTOMER).update(kind="email", address="zoe@example.com")
    Conversation.objects.filter(pk=resolved.pk).update(last_channel="email")
    csat_surveys_send()
    survey = Survey.objects.get()
    question = Message.objects.get(pk=survey.message_id)
    assert question.body.endswith(f"http://testserver/csat/{survey.token}")

    page = client.get(f"/csat/{survey.token}")
    assert page.status_code == 200 and b"How did we do?" in page.content
    assert client.post(f"/csat/{survey.token}", {"rating": "9"}).status_code == 400
    done = client.post(f"/csat/{survey.token}", {"rating": "5", "comment": "Great"})
    assert done.status_code == 200 and b"Thank you" in done.content
    client.post(f"/csat/{survey.token}", {"rating": "1"})
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (5, "Great")
    assert client.get("/csat/not-a-token").status_code == 404


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("5", (5, "")),
        (" 4/5 ", (4, "")),
        ("3. ok I guess", (3, "ok I guess")),
        ("1!", (1, "")),
        ("12", None),
        ("4.5", None),
        ("6", None),
        ("thanks", None),
    ],
)
def test_answers_are_read_from_the_start_of_the_reply(text, answer):
    assert survey_answer_parse(text) == answer


def test_the_summary_counts_answers_per_agent(resolved, post_twilio, agent):
    csat_surveys_send()
    text_in(post_twilio, "2 slow")
    now = timezone.now()
    assert csat_summary(since=now - dt.timedelta(hours=1), until=now + dt.timedelta(hours=1)) == [
        {"agent": agent.pk, "asked": 1, "answered": 1, "average": 2.0, "score": 0.0}
    ]
