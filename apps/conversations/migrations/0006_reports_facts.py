"""Per-conversation facts for the reports (issue 13): when an agent first answered a waiting
customer, how long that customer had waited, and when the conversation was last resolved.
Nullable columns without a default: adding them does not rewrite the table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_read_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="first_response_at",
            field=models.DateTimeField(
                blank=True, help_text="When an agent first answered a waiting customer (reports).", null=True
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="first_response_seconds",
            field=models.IntegerField(
                blank=True, help_text="How long that customer had waited for the first answer (reports).", null=True
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="resolved_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When it was last resolved; cleared when an agent reopens it (reports).",
                null=True,
            ),
        ),
    ]
