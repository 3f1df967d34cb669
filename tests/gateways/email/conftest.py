from __future__ import annotations

import pytest

from apps.accounts.models import Inbox
from tests.factories import InboxFactory
from tests.gateways.email.support import DOMAIN, INBOX_ADDRESS


@pytest.fixture
def email_inbox(db, team, settings) -> Inbox:
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    return InboxFactory(name="Help", channel=Inbox.Channel.EMAIL, address=INBOX_ADDRESS, team=team)
