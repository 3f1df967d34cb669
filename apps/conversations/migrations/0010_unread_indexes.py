"""Unread totals from indexes alone (issue 14).

`conv_unread_idx` replaces `conv_unresolved_idx` with the triage flag (`noise`) added: the totals
filter on it, so the old index could not answer them without visiting every row (at 1M
conversations, 30,000 unassigned open ones: 97 ms; from the two indexes: ~24 ms). The read
markers get (agent, conversation, read_inbound_count) for the same reason. The new index is built
before the old one is dropped; CONCURRENTLY on PostgreSQL (writes go on), plain on SQLite.

An index-only scan skips the table only for pages VACUUM has marked all-visible; autovacuum keeps
that up, and a busy desk's hot rows cost a visit each, as before.

If a concurrent build fails it leaves an INVALID index: DROP INDEX CONCURRENTLY <name>, migrate again.
"""

from django.db import migrations, models
from django.db.models import Q

from apps.core.migration_ops import AddIndexConcurrentlyPortable, RemoveIndexConcurrentlyPortable


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0009_merge_0006_triage_noise_0008_reports_indexes"),
    ]

    operations = [
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(("status", "resolved"), _negated=True),
                fields=["assignee", "inbox", "inbound_count", "id", "noise"],
                name="conv_unread_idx",
            ),
        ),
        RemoveIndexConcurrentlyPortable(model_name="conversation", name="conv_unresolved_idx"),
        AddIndexConcurrentlyPortable(
            model_name="readmarker",
            index=models.Index(fields=["agent", "conversation", "read_inbound_count"], name="read_marker_unread_idx"),
        ),
    ]
