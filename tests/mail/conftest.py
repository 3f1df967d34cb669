from __future__ import annotations

import environ
import pytest

from apps.accounts.models import Inbox
from apps.bus.models import InboundEntry
from apps.conversations.models import Message
from apps.gateways.email.intake import email_accept, envelope_of
from apps.mail.models import EmailInboxSettings
from tests.browser.support import chromium, csp_violations_fail  # noqa: F401 - the browser fixture (tests/mail/test_console_email.py)
from tests.factories import InboxFactory
from tests.mail.smtp_capture import SmtpCapture
from tests.mail.support import DOMAIN, INBOX_ADDRESS


@pytest.fixture(scope="session")
def _smtp_server():
    with SmtpCapture() as server:
        yield server


@pytest.fixture
def smtp(_smtp_server, settings) -> SmtpCapture:
    """Outgoing mail goes to a real SMTP server on loopback, configured as EMAIL_URL would."""
    _smtp_server.reset()
    for name, value in environ.Env.email_url_config(_smtp_server.url).items():
        setattr(settings, name, value)
    settings.EMAIL_SEND_TIMEOUT = 5.0
    yield _smtp_server
    _smtp_server.reset()


@pytest.fixture
def email_inbox(db, team, agent, settings) -> Inbox:
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    inbox = InboxFactory(name="Support mail", channel=Inbox.Channel.EMAIL, address=INBOX_ADDRESS, team=team)
    inbox.members.add(agent)
    EmailInboxSettings.objects.create(inbox=inbox, from_name="Acme Support")
    return inbox


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Hand a raw mail to the intake as the SMTP listener does, and run its processing (the
    real parser, the bus, the router). Returns the journal entry, re-read."""

    def deliver(
        raw: bytes, *, rcpt_tos: list[str] | None = None, mail_from: str | None = "jane@customer.example"
    ) -> InboundEntry:
        envelope = envelope_of(
            transport="smtp", mail_from=mail_from, rcpt_tos=rcpt_tos or [INBOX_ADDRESS], peer="127.0.0.1"
        )
        with django_capture_on_commit_callbacks(execute=True):
            entry, created = email_accept(raw=raw, envelope=envelope)
        assert created and entry is not None
        entry.refresh_from_db()
        return entry

    return deliver


@pytest.fixture
def receive(deliver):
    """Deliver a mail that must become a message; returns the message."""

    def receive(raw: bytes, **kwargs) -> Message:
        entry = deliver(raw, **kwargs)
        assert entry.state == InboundEntry.State.DONE, entry.flag_reason or entry.last_error
        assert entry.message_id is not None
        return Message.objects.get(pk=entry.message_id)

    return receive
