from __future__ import annotations

import factory
from django.utils import timezone

from apps.accounts.models import Agent, Inbox, Team
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Conversation


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    display_name = factory.Sequence(lambda n: f"Agent {n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-agent-123")

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    name = factory.Sequence(lambda n: f"SMS {n}")
    channel = Inbox.Channel.SMS
    address = factory.Sequence(lambda n: f"+1415555{n:04d}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Customer {n}")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    contact = factory.SubFactory(ContactFactory)
    kind = Identity.Kind.PHONE
    address = factory.Sequence(lambda n: f"+1415666{n:04d}")
    verified = True


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    inbox = factory.SubFactory(InboxFactory)
    contact = factory.SubFactory(ContactFactory)
    last_activity_at = factory.LazyFunction(timezone.now)
    last_identity = None
    # Kept with last_identity by the receive path.
    last_channel = factory.LazyAttribute(lambda c: c.last_identity.kind if c.last_identity else "")
