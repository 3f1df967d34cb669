"""Full-text search of contacts' names and notes (issue 13): GIN on
to_tsvector('simple', name || ' ' || notes) (apps.core.search_vectors), PostgreSQL only,
built CONCURRENTLY. SQLite searches with LIKE."""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from apps.core.migration_ops import AddPostgresIndexConcurrently
from apps.core.search_vectors import contact_vector


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0005_contact_name_idx"),
    ]

    operations = [
        AddPostgresIndexConcurrently(
            model_name="contact",
            index=GinIndex(contact_vector(), name="contact_fts_idx"),
        ),
    ]
