"""Status receipts the drain has looked at once and found no message for wait (`waiting`) for
their send to be recorded, and the drain reads only the fresh ones through a partial index
(built CONCURRENTLY on PostgreSQL: the receipts table can be large; writes go on). The new
column has a constant default: PostgreSQL adds it without rewriting the table.

If a concurrent build fails it leaves an INVALID index: DROP INDEX CONCURRENTLY <name>, migrate again.
"""

from django.db import migrations, models
from django.db.models import Q

from apps.core.migration_ops import AddIndexConcurrentlyPortable


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("bus", "0002_exactly_once_and_drain"),
    ]

    operations = [
        migrations.AddField(
            model_name="statusreceipt", name="waiting", field=models.BooleanField(default=False, db_default=False)
        ),
        AddIndexConcurrentlyPortable(
            model_name="statusreceipt",
            index=models.Index(fields=["id"], condition=Q(applied=False, waiting=False), name="status_receipt_fresh_idx"),
        ),
    ]
