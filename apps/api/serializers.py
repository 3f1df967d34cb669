from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import Agent, Inbox, Team
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Attachment, Conversation, Message


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["id", "kind", "address", "display", "verified", "opted_out", "created_at"]


class ContactSerializer(serializers.ModelSerializer):
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "notes", "identities", "created_at"]


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


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactSerializer(read_only=True)

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
            "last_activity_at",
            "waiting_since",
            "snoozed_until",
            "last_seq",
            "created_at",
        ]


class ConversationUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    assignee = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.IntegerField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Conversation.Priority.choices, required=False)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=settings.MESSAGE_MAX_CHARS, trim_whitespace=False)
    client_id = serializers.CharField(
        max_length=64,
        help_text="Your id for this send (e.g. a UUID). Repeating a request with the same client_id "
        "returns the first message instead of sending twice, so a retry on a flaky link is safe.",
    )
    identity = serializers.IntegerField(required=False, help_text="Send on this identity of the contact.")
    kind = serializers.ChoiceField(choices=["message", "note"], default="message")


class AgentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    presence = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "username", "name", "email", "role", "max_conversations", "presence"]

    def get_presence(self, obj: Agent) -> str:
        presence = getattr(obj, "presence", None)
        return presence.status if presence else "offline"


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
