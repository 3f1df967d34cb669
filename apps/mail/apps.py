from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "apps.mail"
    label = "mail"
    verbose_name = "Email channel"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.conversations.services import receiver_each_together
        from apps.gateways.email.gateway import EmailGateway
        from apps.mail.outbound import email_outbound_build
        from apps.mail.router import email_receive

        # Mail is threaded per message (reply tokens, headers, subject), in the journal's order.
        registry.register_inbound("email", parser=EmailGateway, receiver=receiver_each_together(email_receive))
        registry.register_sender("email", gateway=EmailGateway, build=email_outbound_build, carries_files=True)
