"""Triage within one bus batch (messages_receive): the conversation is written once at the end,
with what the last of its messages made of it."""

from __future__ import annotations

import pytest

from apps.bus.services import inbound_accept
from apps.bus.services.journal import inbound_drain
from apps.conversations.models import Conversation, Message
from tests.conftest import twilio_params
from tests.triage.conftest import online

pytestmark = pytest.mark.django_db


def journal(sender: str, bodies: list[str], prefix: str) -> None:
    for i, body in enumerate(bodies):
        params = twilio_params(From=sender, Body=body, MessageSid=f"{prefix}{i:030d}")
        inbound_accept(
            source="twilio:" + params["AccountSid"],
            provider_message_id=params["MessageSid"],
            channel="sms",
            sender=sender,
            payload={k: [v] for k, v in params.items()},
            raw=b"",
        )


def test_noise_then_an_actionable_message_in_one_batch_leaves_an_actionable_assigned_conversation(
    settings, sms_inbox, agent, thanks_rule
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # intake journals; the drain below processes
    online(agent)
    journal("+14155553001", ["thanks!", "wait, my router is down again"], "SMa")
    journal("+14155553002", ["thank you", "thanks again"], "SMb")

    assert inbound_drain(limit=10) == (4, 4)

    first = Conversation.objects.get(contact__identities__address="+14155553001")
    second = Conversation.objects.get(contact__identities__address="+14155553002")
    assert (first.noise, first.assignee_id, first.waiting_since is not None) == (False, agent.pk, True)
    assert (second.noise, second.assignee_id, second.waiting_since) == (True, None, None)
    verdicts = [m.meta["triage"]["verdict"] for m in Message.objects.filter(conversation=first).order_by("seq")]
    assert verdicts == ["noise", "actionable"]
