"""Conversation.last_channel (issue 14): last_identity's kind, kept with it, so that the channel
filter is an index scan instead of a join over every conversation. Backfilled by one UPDATE."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Identity = apps.get_model("contacts", "Identity")
    kind = Identity.objects.filter(pk=OuterRef("last_identity_id")).values("kind")[:1]
    Conversation.objects.filter(last_identity__isnull=False).update(last_channel=Subquery(kind))


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_mastodon_kinds"),
        ("conversations", "0003_inbound_count"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_channel",
            field=models.CharField(
                blank=True,
                default="",
                help_text="last_identity's kind, kept with it: the channel filter.",
                max_length=16,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
