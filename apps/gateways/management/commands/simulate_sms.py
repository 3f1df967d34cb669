"""Post a correctly signed Twilio inbound-SMS webhook to a running server."""

import uuid

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from apps.accounts.models import Inbox
from apps.core.runfile import running_server


class Command(BaseCommand):
    help = "Send a signed Twilio SMS webhook to the server, as if a customer had texted."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--from", dest="sender", required=True, help='e.g. "+1 415 555 2671"')
        parser.add_argument("--body", default="Hello")
        parser.add_argument("--to", help="the inbox number (default: the first SMS inbox)")
        parser.add_argument(
            "--url", help="base URL of the server (default: the running `serve`'s address, else PUBLIC_BASE_URL)"
        )
        parser.add_argument("--whatsapp", action="store_true", help="send as a WhatsApp message")
        parser.add_argument("--media-url", action="append", default=[], help="MMS media URL (repeatable)")
        parser.add_argument("--sid", help="MessageSid (default: a new one); repeat one to test dedupe")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        to = opts["to"]
        if not to:
            inbox = Inbox.objects.filter(channel=Inbox.Channel.SMS).order_by("id").first()
            if inbox is None:
                raise CommandError("no SMS inbox: run `manage.py seed_demo` or pass --to")
            to = inbox.address
        prefix = "whatsapp:" if opts["whatsapp"] else ""
        sid = opts["sid"] or "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "From": prefix + opts["sender"],
            "To": prefix + to,
            "Body": opts["body"],
            "NumMedia": str(len(opts["media_url"])),
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        for index, url in enumerate(opts["media_url"]):
            params[f"MediaUrl{index}"] = url
            params[f"MediaContentType{index}"] = "image/jpeg"
        # `make run PORT=…` in another terminal: post where that server listens, and sign with
        # the PUBLIC_BASE_URL it checks signatures against (apps/core/runfile.py).
        server = running_server()
        public_base_url = server.public_base_url if server else settings.PUBLIC_BASE_URL
        base = (opts["url"] or (server.url if server else settings.PUBLIC_BASE_URL)).rstrip("/")
        path = "/webhooks/twilio/messages"
        # Twilio signs the URL it was configured with: PUBLIC_BASE_URL, whatever host we post to.
        signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(public_base_url + path, params)
        try:
            response = requests.post(base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=15)
        except requests.RequestException as exc:
            raise CommandError(f"could not reach {base}: {exc}") from exc
        self.stdout.write(f"POST {base}{path} -> {response.status_code} {response.text.strip()[:200]}")
        self.stdout.write(f"MessageSid {sid}")
        if response.status_code != 200:
            raise CommandError("the server did not accept the webhook")
