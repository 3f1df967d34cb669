from __future__ import annotations

import pytest

from apps.bus.models import InboundEntry
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Message
from tests.conftest import twilio_params

# Each webhook test runs through Django's view and through supportdesk.asgi (tests/gateways/conftest.py).
BOTH_WEBHOOK_PATHS = True


@pytest.mark.django_db(transaction=True)
def test_signed_sms_is_stored_once_in_a_new_conversation(post_twilio, agent):
    response = post_twilio(**twilio_params(Body="My router is down"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response />" in response.content
    message = Message.objects.get()
    assert message.body == "My router is down"
    assert message.direction == Message.Direction.INBOUND
    assert message.seq == 1
    assert message.identity.kind == Identity.Kind.PHONE
    assert message.identity.address == "+14155552671"
    conversation = Conversation.objects.get()
    assert conversation.contact_id == message.identity.contact_id
    assert InboundEntry.objects.get().state == InboundEntry.State.DONE
