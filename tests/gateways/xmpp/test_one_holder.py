"""One run_xmpp per account: another process holding it (a PostgreSQL advisory lock) keeps this
one off the account until it lets go."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from apps.gateways.xmpp.holder import NAMESPACE_XMPP_ACCOUNT
from apps.gateways.xmpp.models import XmppAccount
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db(transaction=True)]


def other_process_session():
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "pool", "prepare_threshold"):
        params.pop(key, None)
    return psycopg.connect(**params, autocommit=True)


def test_an_account_held_elsewhere_waits_until_it_is_free(desk, xmpp_inbox):
    account_id = XmppAccount.objects.get().pk
    with other_process_session() as other:
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id]).fetchone()[0]
        desk.start(reload_seconds=0.5)
        assert desk.runner is not None
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and account_id not in desk.runner.waiting:
            time.sleep(0.05)
        assert account_id in desk.runner.waiting
        assert desk.runner.accounts == {}
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id])
        desk.connected()
        # Now this run_xmpp holds it: the other cannot take it.
        assert not other.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id]
        ).fetchone()[0]
    desk.stop()
    with other_process_session() as other:  # stopped, it let go
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE_XMPP_ACCOUNT, account_id]).fetchone()[0]
