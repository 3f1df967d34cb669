"""Indexes of the console's reads at a million conversations (issue 14).

Built with CREATE INDEX CONCURRENTLY on PostgreSQL (writes go on while they build; hence
`atomic = False`), a plain CREATE INDEX on SQLite. If a concurrent build fails it leaves an
INVALID index: drop it (DROP INDEX CONCURRENTLY <name>) and migrate again.
"""

from django.db import migrations, models
from django.db.models import Q

from apps.core.migration_ops import AddIndexConcurrentlyPortable


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0004_last_channel"),
    ]

    operations = [
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(fields=["assignee", "last_activity_at", "id"], name="conv_assignee_recent_idx"),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(waiting_since__isnull=False),
                fields=["assignee", "waiting_since", "id"],
                name="conv_assignee_waiting_idx",
            ),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(waiting_since__isnull=False, assignee__isnull=True),
                fields=["waiting_since", "id"],
                name="conv_unassigned_waiting_idx",
            ),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(fields=["team", "last_activity_at", "id"], name="conv_team_recent_idx"),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(fields=["last_channel", "last_activity_at", "id"], name="conv_channel_recent_idx"),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=~Q(status="resolved"),
                fields=["assignee", "inbox", "inbound_count", "id"],
                name="conv_unresolved_idx",
            ),
        ),
    ]
