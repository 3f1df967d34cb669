"""The conversations app's services, by seam: receiving (`receive`), sending (`send`), what
happened to a send (`delivery`), changing a conversation (`changes`), canned responses
(`canned`), an agent's triage click (`noise`). Business rules live there; this module only gathers their public names."""

from apps.conversations.services.canned import (
    canned_response_create,
    canned_response_delete,
    canned_response_update,
)
from apps.conversations.services.changes import (
    conversation_mark_read,
    conversation_update,
    conversations_wake_snoozed,
)
from apps.conversations.services.delivery import (
    DeliveryRecorder,
    message_record_failed,
    message_record_sent,
    message_record_statuses,
)
from apps.conversations.services.noise import conversation_triage_set
from apps.conversations.services.receive import (
    inbox_for_inbound,
    message_receive,
    messages_receive,
    receiver_each_together,
)
from apps.conversations.services.send import FileUpload, message_send

__all__ = [
    "DeliveryRecorder",
    "FileUpload",
    "canned_response_create",
    "canned_response_delete",
    "canned_response_update",
    "conversation_mark_read",
    "conversation_triage_set",
    "conversation_update",
    "conversations_wake_snoozed",
    "inbox_for_inbound",
    "message_receive",
    "message_record_failed",
    "message_record_sent",
    "message_record_statuses",
    "messages_receive",
    "receiver_each_together",
    "message_send",
]
