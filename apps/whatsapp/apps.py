from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "apps.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.whatsapp.services import whatsapp_reply_check, whatsapp_templates_sync_due

        # The 24-hour window and templates, for replies the Twilio gateway sends on WhatsApp.
        registry.register_reply_check("whatsapp", whatsapp_reply_check)
        registry.register_sweep("whatsapp_templates", whatsapp_templates_sync_due)
