"""One customer: however the number is written, and over SMS or WhatsApp, one contact and timeline."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from apps.contacts.models import Contact, Identity
from apps.contacts.services import identity_resolve
from apps.conversations.models import Conversation, Message
from tests.concurrency import run_together
from tests.requires import needs_postgres


@pytest.mark.django_db(transaction=True)
def test_one_number_written_three_ways_is_one_contact_and_one_conversation(receive_sms, sms_inbox):
    first = receive_sms(From="4155552671", Body="first")
    second = receive_sms(From="+14155552671", Body="second")
    third = receive_sms(From="+1 415 555 2671", Body="third")
    identity = Identity.objects.get()
    assert (identity.kind, identity.address, identity.display) == ("phone", "+14155552671", "4155552671")
    assert Contact.objects.count() == 1
    conversation = Conversation.objects.get()
    timeline = list(conversation.messages.order_by("seq").values_list("body", "seq", "identity_id"))
    assert timeline == [("first", 1, identity.pk), ("second", 2, identity.pk), ("third", 3, identity.pk)]
    assert {first.conversation_id, second.conversation_id, third.conversation_id} == {conversation.pk}


@pytest.mark.django_db(transaction=True)
def test_whatsapp_message_lands_on_the_sms_customers_contact(receive_sms, sms_inbox):
    sms = receive_sms(From="+14155552671", Body="by SMS")
    whatsapp = receive_sms(
        From="whatsapp:+14155552671",
        To="whatsapp:+15005550006",
        Body="by WhatsApp",
        ProfileName="Jane Doe",
        WaId="14155552671",
    )
    phone_identity = Identity.objects.get(kind=Identity.Kind.PHONE)
    wa_identity = Identity.objects.get(kind=Identity.Kind.WHATSAPP)
    assert wa_identity.address == "+14155552671"
    assert wa_identity.verified is True
    assert wa_identity.contact_id == phone_identity.contact_id
    contact = Contact.objects.get()
    assert contact.name == "Jane Doe"
    assert whatsapp.identity_id == wa_identity.pk
    assert whatsapp.channel == "whatsapp"
    assert whatsapp.meta["ProfileName"] == "Jane Doe"
    assert whatsapp.meta["WaId"] == "14155552671"
    assert whatsapp.conversation_id == sms.conversation_id
    conversation = Conversation.objects.get()
    assert conversation.last_identity_id == wa_identity.pk  # replies go back on WhatsApp
    assert list(conversation.messages.order_by("seq").values_list("body", flat=True)) == ["by SMS", "by WhatsApp"]


@pytest.mark.django_db(transaction=True)
def test_sms_after_whatsapp_lands_on_the_same_contact(receive_sms, sms_inbox):
    receive_sms(From="whatsapp:+14155552671", To="whatsapp:+15005550006", ProfileName="Jane", WaId="14155552671")
    receive_sms(From="(415) 555-2671")
    assert Contact.objects.count() == 1
    assert Identity.objects.filter(contact=Contact.objects.get()).count() == 2
    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 2


@pytest.mark.django_db(transaction=True)
def test_different_numbers_are_different_contacts(receive_sms, sms_inbox):
    receive_sms(From="+14155552671")
    receive_sms(From="+14155552672")
    assert Contact.objects.count() == 2
    assert Conversation.objects.count() == 2


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_first_sms_and_first_whatsapp_at_once_make_one_contact():
    """A WhatsApp identity created while the SMS identity's transaction is still open must wait for it."""
    created = threading.Event()
    release = threading.Event()

    def sms_side() -> None:
        with transaction.atomic():
            identity_resolve(kind="phone", address="+14155552671", verified=True)
            created.set()
            release.wait(timeout=10)
            time.sleep(0.3)  # still uncommitted while the WhatsApp side runs

    def whatsapp_side() -> None:
        created.wait(timeout=10)
        release.set()
        with transaction.atomic():
            identity_resolve(kind="whatsapp", address="+14155552671", verified=True, name="Jane")

    run_together(sms_side, whatsapp_side)
    assert Identity.objects.count() == 2
    assert Contact.objects.count() == 1
    assert Contact.objects.get().name == "Jane"


@pytest.mark.django_db(transaction=True)
def test_message_to_a_short_code_inbox_is_received_and_answered_from_it(post_twilio, agent, twilio_server):
    from apps.accounts.models import Inbox
    from apps.conversations.services import message_send
    from tests.conftest import twilio_params

    inbox = Inbox.objects.create(name="Short code", channel=Inbox.Channel.SMS, address="22395")
    inbox.members.add(agent)
    assert post_twilio(**twilio_params(To="22395", Body="INFO please")).status_code == 200
    message = Message.objects.get()
    assert message.inbox_id == inbox.pk
    message_send(conversation_id=message.conversation_id, agent=agent, body="Here you go")
    [post] = twilio_server.message_posts()
    assert (post.field("From"), post.field("To")) == ("22395", "+14155552671")
