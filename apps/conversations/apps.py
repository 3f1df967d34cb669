from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "apps.conversations"
    label = "conversations"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.conversations.media import attachments_sweep
        from apps.conversations.services import DeliveryRecorder, conversations_wake_snoozed
        from apps.conversations.unread import unread_tally_fold

        registry.register_delivery_recorder(DeliveryRecorder())
        registry.register_sweep("attachments", attachments_sweep)
        registry.register_sweep("woken", conversations_wake_snoozed)
        registry.register_sweep("unread_tally", unread_tally_fold)
