from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import Inbox, Team
from apps.contacts.models import Contact, Identity
from apps.core.json_fields import FastJSONField


class Label(models.Model):
    """A tag agents put on conversations ("vip", "billing"); created the first time it is used."""

    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(max_length=7, default="#6b7280", help_text="CSS hex colour, e.g. #1f6feb.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.IntegerChoices):
        NONE = 0, "None"
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        URGENT = 4, "Urgent"

    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    priority = models.IntegerField(choices=Priority.choices, default=Priority.NONE)
    last_identity = models.ForeignKey(
        Identity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The address the customer last wrote from: replies go there by default.",
    )
    last_channel = models.CharField(
        max_length=16, blank=True, default="", help_text="last_identity's kind, kept with it: the channel filter."
    )
    last_seq = models.PositiveIntegerField(default=0)
    inbound_count = models.PositiveIntegerField(
        default=0,
        help_text="The customer's messages in the conversation (kind message), kept by the receive path: "
        "unread is this minus the read marker's read_inbound_count.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField()
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="When the customer started waiting for an answer."
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Facts for the reports (issue 13), kept on the write path, backfilled by migration 0007.
    first_response_at = models.DateTimeField(
        null=True, blank=True, help_text="When an agent first answered a waiting customer (reports)."
    )
    first_response_seconds = models.IntegerField(
        null=True, blank=True, help_text="How long that customer had waited for the first answer (reports)."
    )
    resolved_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last resolved; cleared when an agent reopens it (reports)."
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    noise = models.BooleanField(
        default=False,
        help_text="Triage found nothing to act on (praise, chatter, spam, automated, off-topic): kept out of "
        "the queues, shown in the Noise view. An actionable message or an agent's click clears it.",
    )
    triage_reason = models.CharField(max_length=200, blank=True, help_text="Why it is (or is not) noise, in words.")
    last_message = FastJSONField(  # read by orjson: on every row of a list page
        null=True,
        blank=True,
        help_text="Preview of the newest message or note (body cut short, direction, kind, channel, "
        "created_at), kept by the services so that lists need no per-row query.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["inbox", "status", "last_activity_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["contact", "inbox", "status"]),
            # Keyset pagination of the console list: "recent" walks (last_activity_at, id)
            # backwards; "waiting" walks (waiting_since, id) forwards, then the rest by activity.
            models.Index(fields=["last_activity_at", "id"], name="conv_recent_idx"),
            models.Index(fields=["status", "last_activity_at", "id"], name="conv_status_recent_idx"),
            models.Index(
                fields=["waiting_since", "id"], name="conv_waiting_idx", condition=Q(waiting_since__isnull=False)
            ),
            models.Index(
                fields=["status", "waiting_since", "id"],
                name="conv_status_waiting_idx",
                condition=Q(waiting_since__isnull=False),
            ),
            # Issue 14 (built concurrently by migration 0005): the views and filters by assignee
            # (mine, unassigned, an agent), team and channel walk their own keyset index.
            models.Index(fields=["assignee", "last_activity_at", "id"], name="conv_assignee_recent_idx"),
            models.Index(
                fields=["assignee", "waiting_since", "id"],
                name="conv_assignee_waiting_idx",
                condition=Q(waiting_since__isnull=False),
            ),
            # Unassigned: a B-tree cannot order by (waiting_since, id) after `assignee IS NULL`
            # (not an equality), hence a partial index of its own.
            models.Index(
                fields=["waiting_since", "id"],
                name="conv_unassigned_waiting_idx",
                condition=Q(waiting_since__isnull=False, assignee__isnull=True),
            ),
            models.Index(fields=["team", "last_activity_at", "id"], name="conv_team_recent_idx"),
            models.Index(fields=["last_channel", "last_activity_at", "id"], name="conv_channel_recent_idx"),
            # Unread totals: the conversations not resolved, by assignee, with their kept count and
            # the triage flag the totals filter on: an index-only scan (migration 0010).
            models.Index(
                fields=["assignee", "inbox", "inbound_count", "id", "noise"],
                name="conv_unread_idx",
                condition=~Q(status="resolved"),
            ),
            # The Noise view and its count (triage): a small partial index, noise is the exception.
            models.Index(fields=["last_activity_at", "id"], name="conv_noise_recent_idx", condition=Q(noise=True)),
            # Reports (issue 13, built concurrently by migration 0008): a period of conversations
            # created, first answered or resolved is a range on one of these.
            models.Index(fields=["created_at"], name="conv_created_idx"),
            models.Index(
                fields=["first_response_at"],
                name="conv_first_response_idx",
                condition=Q(first_response_at__isnull=False),
            ),
            models.Index(fields=["resolved_at"], name="conv_resolved_idx", condition=Q(resolved_at__isnull=False)),
            # The backlog at a period's start: not resolved, created before it.
            models.Index(
                fields=["created_at"], name="conv_unresolved_created_idx", condition=Q(resolved_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "From the customer"
        OUTBOUND = "out", "To the customer"

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        NOTE = "note", "Private note"
        ACTIVITY = "activity", "Activity"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField(help_text="Gap-free position in the conversation.")
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MESSAGE)
    channel = models.CharField(max_length=16, blank=True, help_text="Identity kind it went over.")
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_messages",
    )
    body = models.TextField(blank=True)
    provider_id = models.CharField(max_length=128, null=True, blank=True)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["inbox", "provider_id"],
                condition=Q(provider_id__isnull=False),
                name="message_provider_id_unique",
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["provider_id"], name="message_provider_id_idx")]


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.message.conversation_id}/{instance.message_id}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=127, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    source_url = models.URLField(max_length=1000, blank=True)
    error = models.CharField(max_length=300, blank=True, help_text="Why the file is not stored.")
    created_at = models.DateTimeField(auto_now_add=True)


class ReadMarker(models.Model):
    """How far an agent has read a conversation (for unread counts)."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_markers")
    last_read_seq = models.PositiveIntegerField(default=0)
    read_inbound_count = models.PositiveIntegerField(
        default=0, help_text="The customer's messages up to last_read_seq (see Conversation.inbound_count)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "conversation"], name="read_marker_unique")]
        # Unread totals read an agent's markers with their counts from the index alone (0010).
        indexes = [models.Index(fields=["agent", "conversation", "read_inbound_count"], name="read_marker_unread_idx")]


class UnreadTally(models.Model):
    """Unread totals kept as sums (issue 14), so that reading them does not visit every open
    conversation an agent could answer (30,000 at 1M conversations).

    Rows with no agent: the customer's messages in conversations not resolved and not noise, by
    inbox and assignee, how many of those conversations have any, and how many not resolved are
    noise. Rows of an agent: the part of those messages their read markers cover, and how many
    of those conversations they have read to the end. An agent's unread is the first less their
    own (apps.api.selectors.unread_totals).

    PostgreSQL only, kept by triggers on conversations and read markers (migration 0012): each
    change adds a row with the difference it makes, so writers never wait on one shared row;
    the bus sweep folds the rows into one per key (apps.conversations.unread). Read as sums.
    Empty on SQLite, where the totals are counted from the conversations.
    """

    inbox_id = models.BigIntegerField()
    assignee_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField(null=True, help_text="None: the conversations' sums; else what this agent read.")
    messages = models.BigIntegerField(default=0)
    conversations = models.BigIntegerField(default=0)
    noise = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["inbox_id", "agent_id", "assignee_id"], name="unread_tally_key_idx")]


class CannedResponse(models.Model):
    """A saved reply an agent inserts with `/shortcut`."""

    shortcut = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=120)
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"
