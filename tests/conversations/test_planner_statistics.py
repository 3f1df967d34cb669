"""The planner's view of the conversations table (PostgreSQL): migration 0011's extended
statistics, without which the unassigned view sorted by due time sorted every unassigned
conversation instead of walking the due index (bench/reads.py at 1M conversations)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]


def test_assignee_status_and_noise_have_combined_statistics():
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.stxkind, array_agg(a.attname ORDER BY a.attname)
                 FROM pg_statistic_ext s
                 JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = ANY(s.stxkeys)
                WHERE s.stxname = 'conv_assignee_status_stats' AND s.stxrelid = 'conversations_conversation'::regclass
                GROUP BY s.stxkind"""
        )
        rows = cursor.fetchall()
    assert rows == [(["m"], ["assignee_id", "noise", "status"])]
