"""Contact search (issue 14): GIN trigram indexes under the search's `UPPER(column) LIKE '%q%'`.

PostgreSQL only (pg_trgm), built with CREATE INDEX CONCURRENTLY (writes go on while they build);
SQLite keeps scanning, which is fine at its sizes.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Upper

from apps.core.migration_ops import AddPostgresIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0003_mastodon_kinds"),
    ]

    operations = [
        TrigramExtension(),
        AddPostgresIndexConcurrently(
            model_name="contact",
            index=GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="contact_name_trgm_idx"),
        ),
        AddPostgresIndexConcurrently(
            model_name="identity",
            index=GinIndex(OpClass(Upper("address"), name="gin_trgm_ops"), name="identity_address_trgm_idx"),
        ),
        AddPostgresIndexConcurrently(
            model_name="identity",
            index=GinIndex(OpClass(Upper("display"), name="gin_trgm_ops"), name="identity_display_trgm_idx"),
        ),
    ]
