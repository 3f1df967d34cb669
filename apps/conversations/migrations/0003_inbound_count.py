"""Kept counts for unread (issue 14): Conversation.inbound_count, ReadMarker.read_inbound_count.

Adding the columns is instant on PostgreSQL (a constant default); the backfill is one UPDATE per
table, each counting the customer's messages through the (conversation, seq) unique index.
"""

from django.db import migrations, models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    ReadMarker = apps.get_model("conversations", "ReadMarker")
    inbound = Q(direction="in", kind="message")

    def counted(**filters):
        rows = (
            Message.objects.filter(inbound, **filters)
            .order_by()
            .values("conversation_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    Conversation.objects.update(inbound_count=counted(conversation_id=OuterRef("pk")))
    ReadMarker.objects.update(
        read_inbound_count=counted(conversation_id=OuterRef("conversation_id"), seq__lte=OuterRef("last_read_seq"))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0002_console_labels_canned_last_message"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="inbound_count",
            field=models.PositiveIntegerField(
                default=0,
                help_text="The customer's messages in the conversation (kind message), kept by the receive path: "
                "unread is this minus the read marker's read_inbound_count.",
            ),
        ),
        migrations.AddField(
            model_name="readmarker",
            name="read_inbound_count",
            field=models.PositiveIntegerField(
                default=0, help_text="The customer's messages up to last_read_seq (see Conversation.inbound_count)."
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
