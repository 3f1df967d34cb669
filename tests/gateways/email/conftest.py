from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from apps.accounts.models import Inbox
from apps.gateways.email.smtp import ListenerThread
from apps.mail.models import EmailInboxSettings
from tests.factories import InboxFactory
from tests.gateways.email import dovecot
from tests.gateways.email.support import DOMAIN, INBOX_ADDRESS
from tests.requires import missing


@pytest.fixture
def email_inbox(db, team, settings) -> Inbox:
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    return InboxFactory(name="Help", channel=Inbox.Channel.EMAIL, address=INBOX_ADDRESS, team=team)


@pytest.fixture
def smtp_listener(settings):
    """The SMTP listener on a free port of 127.0.0.1, on a thread (use with a transactional db)."""
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN
    thread = ListenerThread(host="127.0.0.1", port=0, domain=DOMAIN).start()
    yield thread
    thread.stop()


# --- a real IMAP server ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server():
    """A private dovecot for this test run (skipped, or failed under REQUIRE_SERVICES=1, when
    Debian's dovecot-imapd is not installed)."""
    if not dovecot.available():
        reason = "dovecot is not installed (apt-get install dovecot-imapd; .ci/run does it)"
        missing(reason)
    # Not under pytest's tmp_path: its directories are private to root, and dovecot's mail
    # processes run as an unprivileged user.
    root = Path(tempfile.mkdtemp(prefix="supportdesk-dovecot-"))
    os.chmod(root, 0o755)
    server = dovecot.Dovecot(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Mailbox:
    server: dovecot.Dovecot
    username: str
    password: str

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=30)
        client.login(self.username, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)

    def messages(self, folder: str = "INBOX") -> dict[int, dict[bytes, object]]:
        """UID -> {b"BODY[]", b"FLAGS"} of a folder, read without marking anything."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS"]) if uids else {}


@pytest.fixture
def mailbox(dovecot_server) -> Mailbox:
    """A fresh mailbox (its own dovecot user) for one test."""
    username, password = dovecot_server.take_user()
    return Mailbox(dovecot_server, username, password)


@pytest.fixture
def imap_inbox(email_inbox, mailbox) -> Inbox:
    """The email inbox, polling `mailbox` over IMAP, processed mail moved to "Processed"."""
    EmailInboxSettings.objects.create(
        inbox=email_inbox,
        imap_enabled=True,
        imap_host="127.0.0.1",
        imap_port=mailbox.server.port,
        imap_security=EmailInboxSettings.ImapSecurity.NONE,
        imap_username=mailbox.username,
        imap_password=mailbox.password,
        imap_folder="INBOX",
        imap_processed_folder="Processed",
    )
    return email_inbox
