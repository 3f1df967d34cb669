"""Mastodon fixtures: a Mastodon inbox with its account on the local instance, and helpers that
take mentions in the way the listener does (the notifications backfill, the stream)."""

from __future__ import annotations

import pytest

from apps.accounts.models import Inbox
from apps.contacts.models import Identity
from apps.contacts.services import identity_resolve
from apps.conversations.models import Message
from apps.gateways.mastodon.listener import backfill
from apps.gateways.mastodon.models import MastodonAccount
from tests.browser.support import chromium  # noqa: F401 - the browser fixture, for test_mastodon_console
from tests.factories import AgentFactory, InboxFactory

TOKEN = "desk-token-0123456789"


@pytest.fixture(scope="session")
def _mastodon_server_session():
    from tests.fakes.mastodon_server import FakeMastodon

    with FakeMastodon() as server:
        yield server


@pytest.fixture
def mastodon_server(_mastodon_server_session):
    """The local instance, with the desk account (id 1, @support) known by its token."""
    server = _mastodon_server_session
    server.reset()
    server.add_account(TOKEN)
    yield server
    server.reset()


@pytest.fixture
def md_inbox(db, team) -> Inbox:
    return InboxFactory(name="Mastodon", channel=Inbox.Channel.MASTODON, address="support", team=team)


@pytest.fixture
def md_account(md_inbox, mastodon_server) -> MastodonAccount:
    return MastodonAccount.objects.create(
        inbox=md_inbox, instance_url=mastodon_server.base_url, access_token=TOKEN, account_id="1", username="support"
    )


@pytest.fixture
def md_agent(db, md_inbox, team):
    agent = AgentFactory(username="mona", display_name="Mona")
    md_inbox.members.add(agent)
    team.members.add(agent)
    return agent


@pytest.fixture
def take(md_account):
    """Read the instance's notifications into the desk (as a backfill does); the new messages."""

    def run() -> list[Message]:
        before = set(Message.objects.values_list("id", flat=True))
        md_account.refresh_from_db()
        backfill(md_account)
        return list(Message.objects.exclude(id__in=before).filter(channel="mastodon").order_by("id"))

    return run


@pytest.fixture
def customer(db):
    """A known customer: a verified phone number (she has texted the desk before)."""
    identity = identity_resolve(kind=Identity.Kind.PHONE, address="+14155550100", verified=True, name="Jane Doe")
    return identity.contact


def address(account_id: str, server) -> str:
    return f"{account_id}@{server.base_url.split('://', 1)[1]}"
