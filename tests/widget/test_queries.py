"""Query budgets of the widget's hot paths: a visitor's follow-up message, the resumed session,
the history page, and the socket's admission (one trip to the database thread per connect)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.widget.consumers import socket_admit
from tests.widget.conftest import SITE


def _statements(context: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in context.captured_queries]


def test_follow_up_message(widget, django_assert_max_num_queries):
    widget.session()
    assert widget.send("first", "q-1").status_code == 201
    with django_assert_max_num_queries(21):
        assert widget.send("second", "q-2").status_code == 201


def test_resumed_session_and_history(widget, django_assert_max_num_queries):
    widget.session()
    for i in range(5):
        assert widget.send(f"m{i}", f"h-{i}").status_code == 201
    # The inbox with its settings, the visitor, its last_seen (in a savepoint here: 3
    # statements), the desk's business calendar (apps.sla; with one set, its holidays too),
    # whether an agent is online.
    with django_assert_max_num_queries(7):
        assert widget.session().status_code == 200
    with django_assert_max_num_queries(6):
        page = widget.history()
    assert page.status_code == 200 and len(page.json()["messages"]) == 5


def test_socket_admission(widget, django_assert_max_num_queries):
    widget.session()
    assert widget.send("hello", "a-1").status_code == 201
    with CaptureQueriesContext(connection) as context:
        admission = socket_admit(inbox_key=widget.inbox.key, token=widget.token, origin=SITE, address="203.0.113.9")
    assert admission is not None and not isinstance(admission, str)
    assert len(admission.conversations) == 1
    assert len(context.captured_queries) <= 3, _statements(context)
