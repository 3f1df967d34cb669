from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "apps.mail"
    label = "mail"
    verbose_name = "Email channel"

    def ready(self) -> None:
        from apps.bus import registry
        from apps.gateways.email.gateway import EmailGateway
        from apps.mail.outbound import email_outbound_build
        from apps.mail.router import email_receive_batch

        # Mail is threaded per message (reply tokens, headers, subject), in the journal's order;
        # what a batch's mails share is read once (apps.mail.router.MailBatch).
        registry.register_inbound("email", parser=EmailGateway, receiver=email_receive_batch)
        registry.register_sender("email", gateway=EmailGateway, build=email_outbound_build, carries_files=True)
