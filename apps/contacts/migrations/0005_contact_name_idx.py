"""Contact search by name in name order (issue 14), built concurrently on PostgreSQL."""

from django.db import migrations, models

from apps.core.migration_ops import AddIndexConcurrentlyPortable


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0004_search_trigram_indexes"),
    ]

    operations = [
        AddIndexConcurrentlyPortable(
            model_name="contact",
            index=models.Index(fields=["name", "id"], name="contact_name_idx"),
        ),
    ]
