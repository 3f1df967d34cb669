"""Indexes of the reports and the search (issue 13).

- Conversations by created_at, first_response_at and resolved_at (partial: the filled ones): a
  report's period is a range on one of them. CONCURRENTLY on PostgreSQL, plain on SQLite.
- Messages: GIN on to_tsvector('simple', body) (apps.core.search_vectors), PostgreSQL only,
  CONCURRENTLY (10M messages: minutes; writes go on). SQLite searches with LIKE.

If a concurrent build fails it leaves an INVALID index: DROP INDEX CONCURRENTLY <name>, migrate again.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models
from django.db.models import Q

from apps.core.migration_ops import AddIndexConcurrentlyPortable, AddPostgresIndexConcurrently
from apps.core.search_vectors import message_vector


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0007_reports_backfill"),
    ]

    operations = [
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(fields=["created_at"], name="conv_created_idx"),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(first_response_at__isnull=False),
                fields=["first_response_at"],
                name="conv_first_response_idx",
            ),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(resolved_at__isnull=False), fields=["resolved_at"], name="conv_resolved_idx"
            ),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(
                condition=Q(resolved_at__isnull=True), fields=["created_at"], name="conv_unresolved_created_idx"
            ),
        ),
        AddPostgresIndexConcurrently(
            model_name="message",
            index=GinIndex(message_vector(), name="message_body_fts_idx"),
        ),
    ]
