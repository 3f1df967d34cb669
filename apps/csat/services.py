"""Satisfaction surveys: the question after a conversation is resolved, and its answer.

When a conversation is resolved the customer gets one question on the channel they last used,
through the bus outbox like any reply (`message_send`), once per conversation (Survey's
one-to-one with the conversation), unless they opted out (STOP) or the channel takes no
free-form message now (WhatsApp's 24-hour window): then the survey is recorded as not sent,
with the reason. SMS, WhatsApp, Telegram and XMPP ask for a reply 1–5; email and the widget
get a link to a one-question page (the widget shows the rating inline).

A reply that starts with 1–5 from the customer, while the survey is the newest thing asked and
within CSAT_REPLY_WINDOW, is the answer: it is stored in the resolved conversation (which stays
resolved) and the rest of the text is the comment. Anything else, or a second answer, opens a
new conversation as usual.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Agent, Inbox
from apps.bus.events import EventType, event_append
from apps.bus.models import Event
from apps.contacts.models import Identity
from apps.conversations.events import emit_message
from apps.conversations.models import Conversation, Message
from apps.conversations.services import message_send
from apps.conversations.services.timeline import activity_add
from apps.core.errors import DomainError, InvalidInput, NotFound
from apps.csat.models import CsatPosition, Survey
from apps.gateways.base import InboundMessage

log = logging.getLogger(__name__)

CSAT_ANSWERED = "csat.answered"  # event type: a survey was answered
REPLY_KINDS = {"phone", "whatsapp", "telegram", "xmpp"}  # asked to reply with a number
LINK_KINDS = {"email", "widget"}  # given a link (the widget also renders it inline)
_ANSWER = re.compile(r"^\s*([1-5])(?!\d)(?![.,]\d)(?:\s*/\s*5)?\s*[-,.:;!)]*\s*(.*)$", re.S)


def survey_url(survey: Survey) -> str:
    return f"{settings.PUBLIC_BASE_URL}/csat/{survey.token}"


def survey_question(*, kind: str, url: str) -> str:
    if kind in LINK_KINDS:
        return f"How did we do? Please rate this conversation from 1 to 5: {url}"
    return "How did we do? Reply with a number from 1 (poor) to 5 (great); you can add a comment after it."


def _skip(conversation: Conversation, reason: str, identity: Identity | None, agent_id: int | None) -> Survey | None:
    try:
        with transaction.atomic():
            return Survey.objects.create(
                conversation=conversation,
                identity=identity,
                channel=identity.kind if identity else "",
                agent_id=agent_id,
                status=Survey.Status.SKIPPED,
                skip_reason=reason,
            )
    except IntegrityError:
        return None


def survey_send(*, conversation_id: int) -> Survey | None:
    """Ask the question about a resolved conversation, once. Returns the survey (sent or not
    sent, with the reason), or None when one was made before or the conversation is not resolved."""
    if not settings.CSAT_ENABLED:
        return None
    conversation = Conversation.objects.select_related("last_identity", "assignee").filter(pk=conversation_id).first()
    if conversation is None or conversation.status != Conversation.Status.RESOLVED:
        return None
    if Survey.objects.filter(conversation_id=conversation_id).exists():
        return None
    identity = conversation.last_identity
    agent = conversation.assignee or _last_agent(conversation)
    agent_id = agent.pk if agent else None
    if identity is None:
        return _skip(conversation, "no_channel", None, agent_id)
    if identity.kind not in REPLY_KINDS | LINK_KINDS:
        return _skip(conversation, "channel_not_surveyed", identity, agent_id)
    if identity.opted_out:
        return _skip(conversation, "opted_out", identity, agent_id)
    if agent is None:
        return _skip(conversation, "no_agent", identity, agent_id)
    try:
        with transaction.atomic():
            survey = Survey.objects.create(
                conversation=conversation,
                identity=identity,
                channel=identity.kind,
                agent=agent,
                status=Survey.Status.SENT,
            )
            message, _ = message_send(
                conversation_id=conversation.pk,
                agent=agent,
                body=survey_question(kind=identity.kind, url=survey_url(survey)),
                client_id=f"csat-{survey.pk}",
                identity_id=identity.pk,
            )
            survey.message_id = message.pk
            survey.save(update_fields=["message_id"])
            return survey
    except IntegrityError:
        return None  # made by a concurrent sweep
    except DomainError as exc:  # WhatsApp's window closed, opted out meanwhile, no reply channel
        return _skip(conversation, exc.code, identity, agent_id)


def _last_agent(conversation: Conversation) -> Agent | None:
    sender_id = (
        Message.objects.filter(
            conversation=conversation, direction=Message.Direction.OUTBOUND, kind=Message.Kind.MESSAGE
        )
        .exclude(sender__isnull=True)
        .order_by("-seq")
        .values_list("sender_id", flat=True)
        .first()
    )
    return Agent.objects.filter(pk=sender_id, is_active=True).first() if sender_id else None


def csat_surveys_send(*, batch: int = 500) -> int:
    """Follow the event log from the kept position: each conversation resolved gets its survey."""
    sent = 0
    while True:
        with transaction.atomic():
            position, _ = CsatPosition.objects.select_for_update().get_or_create(pk=1)
            newest = Event.objects.aggregate(m=Max("id"))["m"] or 0
            events = list(
                Event.objects.filter(
                    id__gt=position.event_id, id__lte=newest, type=EventType.CONVERSATION_UPDATED
                ).order_by("id")[:batch]
            )
            for event in events:
                data = event.data or {}
                if data.get("status") == Conversation.Status.RESOLVED and "status" in (data.get("changes") or []):
                    if survey_send(conversation_id=int(event.conversation_id or 0)) is not None:
                        sent += 1
            position.event_id = events[-1].id if len(events) == batch else newest
            position.save(update_fields=["event_id"])
        if len(events) < batch:
            return sent


def survey_answer_parse(text: str) -> tuple[int, str] | None:
    """(rating, comment) from "4", "4/5", "5 - thanks!", else None."""
    match = _ANSWER.match(text or "")
    if match is None:
        return None
    return int(match[1]), match[2].strip()


def _record(survey: Survey, conversation: Conversation, rating: int, comment: str, now: dt.datetime) -> Message:
    survey.rating, survey.comment, survey.answered_at = rating, comment[:2000], now
    survey.status = Survey.Status.ANSWERED
    survey.save(update_fields=["rating", "comment", "answered_at", "status"])
    words = f"The customer rated this {rating}/5" + (f": “{comment[:200]}”" if comment else "")
    activity = activity_add(
        conversation, words, now=now, meta={"csat": {"rating": rating, "comment": comment[:2000], "survey": survey.pk}}
    )
    emit_message(activity)
    event_append(
        type=CSAT_ANSWERED,
        data={"conversation": conversation.pk, "rating": rating, "comment": comment[:2000], "agent": survey.agent_id},
        conversation_id=conversation.pk,
        inbox_id=conversation.inbox_id,
    )
    return activity


def survey_claim(
    *,
    inbox: Inbox,
    identity: Identity,
    inbound: InboundMessage,
    now: dt.datetime,
    replying_to: Conversation | None = None,
) -> Conversation | None:
    """The receive path's claim (apps.conversations.hooks): a reply 1–5 to the newest survey of
    this contact in this inbox, sent within CSAT_REPLY_WINDOW and not answered, is its answer
    (when the message threads into a resolved conversation by itself, only that one's survey)."""
    answer = survey_answer_parse(inbound.text)
    if answer is None or inbound.attachments:
        return None
    since = now - dt.timedelta(seconds=settings.CSAT_REPLY_WINDOW)
    survey = (
        Survey.objects.filter(
            conversation__contact_id=identity.contact_id,
            conversation__inbox=inbox,
            created_at__gte=since,
        )
        .exclude(status=Survey.Status.SKIPPED)
        .order_by("-created_at")
        .first()
    )
    if survey is None or survey.status != Survey.Status.SENT:
        return None  # the newest question was answered already: this is a new matter
    if replying_to is not None and survey.conversation_id != replying_to.pk:
        return None
    conversation = Conversation.objects.select_for_update(no_key=True).filter(pk=survey.conversation_id).first()
    if conversation is None or conversation.status != Conversation.Status.RESOLVED:
        return None
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != Survey.Status.SENT:
        return None
    _record(survey, conversation, answer[0], answer[1], now)
    conversation.save(update_fields=["last_seq"])
    return conversation


@transaction.atomic
def survey_answer(*, token: str, rating: Any, comment: str = "") -> Survey:
    """An answer from the survey page (email, widget): once."""
    try:
        value = int(rating)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise InvalidInput("the rating is a number from 1 to 5", code="invalid_rating")
    survey = Survey.objects.select_for_update().filter(token=token).first()
    if survey is None or survey.status == Survey.Status.SKIPPED:
        raise NotFound("no such survey")
    if survey.status == Survey.Status.ANSWERED:
        return survey
    conversation = Conversation.objects.select_for_update(no_key=True).get(pk=survey.conversation_id)
    _record(survey, conversation, value, comment.strip(), timezone.now())
    conversation.save(update_fields=["last_seq"])
    return survey
