"""Triage (branch triage): a conversation is noise or not, and why; the Noise view's index.

The columns have constant defaults (no table rewrite on PostgreSQL 11+); the partial index is
built concurrently on PostgreSQL (hence `atomic = False`), plainly on SQLite.
"""

from django.db import migrations, models
from django.db.models import Q

from apps.core.migration_ops import AddIndexConcurrentlyPortable


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0005_read_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="noise",
            field=models.BooleanField(
                default=False,
                help_text="Triage found nothing to act on (praise, chatter, spam, automated, off-topic): kept out of "
                "the queues, shown in the Noise view. An actionable message or an agent's click clears it.",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="triage_reason",
            field=models.CharField(blank=True, help_text="Why it is (or is not) noise, in words.", max_length=200),
        ),
        AddIndexConcurrentlyPortable(
            model_name="conversation",
            index=models.Index(condition=Q(noise=True), fields=["last_activity_at", "id"], name="conv_noise_recent_idx"),
        ),
    ]
