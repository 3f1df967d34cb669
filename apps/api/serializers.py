from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Agent, Inbox, Team
from apps.accounts.permissions import can_manage_desk, can_see_reports, is_supervisor
from apps.contacts.models import Contact, ContactMerge, Identity
from apps.conversations.models import Attachment, CannedResponse, Conversation, Label, Message
from apps.sla.events import sla_data
from apps.sla.models import ConversationSla
from apps.widget.context import visitor_context_data


@extend_schema_field({"type": "string", "enum": ["online", "away", "offline"]})
class PresenceStatusField(serializers.Field):
    """An agent's presence status; "offline" for an agent who never connected."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, agent: Agent) -> str:
        presence = getattr(agent, "presence", None)
        return presence.status if presence else "offline"


class IdentitySerializer(serializers.ModelSerializer):
    visitor = serializers.SerializerMethodField(
        help_text="Widget identities: who the visitor is and where they started (page, browser, time zone)."
    )

    class Meta:
        model = Identity
        fields = ["id", "kind", "address", "display", "verified", "opted_out", "created_at", "visitor"]

    def get_visitor(self, obj: Identity) -> dict[str, Any] | None:
        if obj.kind != Identity.Kind.WIDGET:
            return None
        visitors = sorted(obj.visitors.all(), key=lambda v: v.pk)  # prefetched by the contact views
        return visitor_context_data(visitors[-1]) if visitors else None


class ContactSerializer(serializers.ModelSerializer):
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "notes", "identities", "merged_into", "created_at"]


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "url", "error"]

    def get_url(self, obj: Attachment) -> str | None:
        return f"/api/v1/attachments/{obj.pk}" if obj.file else None


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "seq",
            "direction",
            "kind",
            "channel",
            "identity",
            "sender",
            "body",
            "status",
            "error_code",
            "error_message",
            "client_id",
            "created_at",
            "attachments",
            "meta",
        ]


class ItemIdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["id", "kind", "address", "display", "verified", "opted_out"]


class ItemContactSerializer(serializers.ModelSerializer):
    identities = ItemIdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "identities"]


class LastMessageSerializer(serializers.Serializer):
    body = serializers.CharField(help_text="Cut to 200 characters.")
    direction = serializers.CharField()
    kind = serializers.CharField()
    channel = serializers.CharField()
    created_at = serializers.DateTimeField()


class SlaClockSerializer(serializers.Serializer):
    """A conversation's service-level clock (apps.sla); null when no SLA policy applies."""

    policy = serializers.IntegerField()
    cycle = serializers.IntegerField()
    next_due_at = serializers.DateTimeField(allow_null=True, help_text="The next target's due time (past: breached).")
    next_target = serializers.ChoiceField(choices=["first_response", "resolution"], allow_null=True)
    paused = serializers.BooleanField(help_text="Waiting on the customer (pending): the clock is stopped.")
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    first_responded_at = serializers.DateTimeField(allow_null=True)
    resolution_due_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation as the console lists it (rows from selectors.conversation_items)."""

    contact = ItemContactSerializer(read_only=True)
    labels = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()
    last_message = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "inbox",
            "contact",
            "status",
            "assignee",
            "team",
            "priority",
            "labels",
            "last_activity_at",
            "waiting_since",
            "snoozed_until",
            "last_seq",
            "unread",
            "last_message",
            "created_at",
            "noise",
            "triage_reason",
            "sla",
        ]

    @extend_schema_field(SlaClockSerializer(allow_null=True))
    def get_sla(self, obj: Conversation) -> dict | None:
        try:
            return sla_data(obj.sla)  # type: ignore[attr-defined]
        except ConversationSla.DoesNotExist:
            return None

    def get_labels(self, obj: Conversation) -> list[str]:
        return sorted(label.name for label in obj.labels.all())

    def get_unread(self, obj: Conversation) -> int:
        """The customer's messages after this agent's read marker."""
        return int(getattr(obj, "unread", 0) or 0)

    @extend_schema_field(LastMessageSerializer(allow_null=True))
    def get_last_message(self, obj: Conversation) -> dict | None:
        return obj.last_message


class ConversationUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    assignee = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.IntegerField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Conversation.Priority.choices, required=False)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True),
        required=False,
        max_length=50,
        help_text="The full new set of label names; unknown names are created.",
    )


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(required=False, min_value=0, help_text="Read up to here (default: all).")


class NameSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MeInboxSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = ["id", "name", "channel"]


class MeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    presence = PresenceStatusField()
    inboxes = MeInboxSerializer(many=True, read_only=True)
    teams = NameSerializer(many=True, read_only=True)
    permissions = serializers.SerializerMethodField(
        help_text="What the console may offer: reassign (any conversation), reports, manage (desk settings)."
    )

    class Meta:
        model = Agent
        fields = ["id", "username", "name", "role", "presence", "inboxes", "teams", "permissions"]

    def get_permissions(self, agent: Agent) -> dict[str, bool]:
        return {
            "reassign": is_supervisor(agent),
            "reports": can_see_reports(agent),
            "manage": can_manage_desk(agent),
        }


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]


class CannedResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "title", "text", "created_by", "updated_at"]
        read_only_fields = ["id", "created_by", "updated_at"]


class CannedResponseUpdateSerializer(serializers.Serializer):
    shortcut = serializers.CharField(max_length=51, required=False)
    title = serializers.CharField(max_length=120, required=False)
    text = serializers.CharField(max_length=settings.MESSAGE_MAX_CHARS, required=False, trim_whitespace=False)


class ContactUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True, trim_whitespace=False)


class ContactMergeRequestSerializer(serializers.Serializer):
    other = serializers.IntegerField(help_text="The contact merged INTO this one (it is the one that goes).")


class ContactMergeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactMerge
        fields = [
            "id",
            "survivor",
            "merged",
            "identity_ids",
            "conversation_ids",
            "merged_by",
            "created_at",
            "undone_at",
        ]


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=settings.MESSAGE_MAX_CHARS,
        trim_whitespace=False,
        required=False,
        help_text="The text. Required unless `template` is given (the template's text is then the body).",
    )
    template = serializers.CharField(
        max_length=64,
        required=False,
        help_text="WhatsApp: the ContentSid (HX…) of a synced template to send instead of free text.",
    )
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text='The template\'s variables: {"1": "Jane", "2": "#123"}.',
    )
    client_id = serializers.CharField(
        max_length=64,
        help_text="Your id for this send (e.g. a UUID). Repeating a request with the same client_id "
        "returns the first message instead of sending twice, so a retry on a flaky link is safe.",
    )
    identity = serializers.IntegerField(required=False, help_text="Send on this identity of the contact.")
    kind = serializers.ChoiceField(choices=["message", "note"], default="message")
    visibility = serializers.ChoiceField(
        choices=["public", "private"],
        required=False,
        help_text="Mastodon: reply publicly (a reply to the customer's post, its visibility kept) or "
        "privately (a direct message). Default: the way the customer wrote.",
    )

    def validate(self, attrs: dict) -> dict:
        if "body" not in attrs and not attrs.get("template"):
            raise serializers.ValidationError({"body": ["This field is required."]})
        return attrs


class MessageUploadSerializer(MessageCreateSerializer):
    """The multipart form of a reply with files: the text may be empty when files are attached."""

    body = serializers.CharField(
        max_length=settings.MESSAGE_MAX_CHARS, trim_whitespace=False, required=False, allow_blank=True, default=""
    )
    files = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=10, help_text="One part per file."
    )


class AgentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    presence = PresenceStatusField()

    class Meta:
        model = Agent
        fields = ["id", "username", "name", "email", "role", "max_conversations", "presence"]


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "members"]


class InboxSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = ["id", "name", "channel", "address", "team", "auto_assign"]


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    conversation = serializers.IntegerField(allow_null=True)
    data = serializers.DictField()  # type: ignore[assignment]  # the event's payload, not Serializer.data


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    last_event_id = serializers.IntegerField(help_text="Ask from here next: every visible event up to it was answered.")
    more = serializers.BooleanField(help_text="The page stopped at `limit`; ask again from `last_event_id`.")
    resync_required = serializers.BooleanField(
        help_text="Events after `since` were pruned (or `since` is unknown): refetch state, then go on from "
        "`last_event_id`."
    )


class PresenceSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away", "offline"])


class UnreadSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    conversations = serializers.IntegerField()
    noise = serializers.IntegerField(help_text="Conversations in the Noise view that are not resolved (triage).")
