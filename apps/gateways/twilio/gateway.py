"""Twilio: SMS, MMS and WhatsApp in and out. The only module that imports the twilio SDK."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from django.conf import settings
from django.http import HttpRequest, QueryDict
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from apps.gateways.base import (
    DeliveryStatus,
    Gateway,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    Payload,
    PermanentSendError,
    SendOutcomeUnknown,
    SendResult,
    TransientSendError,
    payload_digest,
    payload_value,
)
from apps.gateways.http_io import never_sent, read_capped
from apps.gateways.phones import InvalidPhoneNumber, normalize_phone, split_channel_address

log = logging.getLogger(__name__)

EMPTY_TWIML = str(MessagingResponse())
MAX_MEDIA = 10  # Twilio's own limit (error 21623); more is a malformed payload
MAX_BODY_CHARS = 1600

# Keyword handling when the Messaging Service does not send OptOutType (protocols.md §2.6):
# whole body, case-insensitive, single word.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
START_WORDS = {"start", "yes", "unstop"}
HELP_WORDS = {"help", "info"}

# Twilio status -> our delivery status. Unknown statuses are ignored, not guessed.
STATUS_MAP = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "read": "read",
}

# Errors that will not go away by trying again (protocols.md §2.2).
PERMANENT_CODES = {21211, 21408, 21606, 21608, 21610, 21612, 21614, 21617, 21623, 21635, 21602, 21619, 63016}


def classify_opt_out(opt_out_type: str, body: str) -> str:
    if opt_out_type:
        return opt_out_type.strip().lower() if opt_out_type.strip().lower() in {"stop", "start", "help"} else ""
    word = body.strip().lower()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return ""


def payload_is_utf8(raw: bytes) -> bool:
    """Twilio posts UTF-8; anything else decodes with replacement characters and is flagged."""
    for pair in raw.split(b"&"):
        for part in pair.split(b"=", 1):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return False
    return True


def _send_error(status: int | None, code: int | str | None, text: str) -> Exception:
    """A refused create call: transient (429, 5xx) or permanent (the request itself is wrong)."""
    status = int(status or 0)
    try:
        code = int(code or status or 0)
    except (TypeError, ValueError):
        code = status
    # 401/20003 is our credentials, not the message: keep the reply queued (with backoff) so
    # that fixing TWILIO_AUTH_TOKEN sends it, instead of failing every queued reply at once.
    if status >= 500:
        # A server error may come after the message was created: ask before sending again.
        return SendOutcomeUnknown(f"Twilio answered {status} ({code}): {text}")
    if status in (401, 429) or code in (20003, 20429):
        return TransientSendError(f"Twilio answered {status} ({code}): {text}")
    if code in PERMANENT_CODES or 400 <= status < 500:
        return PermanentSendError(str(code), text)
    return TransientSendError(f"Twilio answered {status} ({code}): {text}")


class TwilioGateway(Gateway):
    channel = "sms"

    # --- inbound ---------------------------------------------------------------------
    def verify(self, request: HttpRequest) -> bool:
        return self.signature_valid(
            full_path=request.get_full_path(),
            params=request.POST,
            signature=request.headers.get("X-Twilio-Signature", ""),
            settings_header=request.headers.get("X-Twilio-Webhooks-Signature-Settings", ""),
        )

    def signature_valid(self, *, full_path: str, params: QueryDict, signature: str, settings_header: str) -> bool:
        """X-Twilio-Signature over PUBLIC_BASE_URL + the request's full path and its form fields."""
        if not signature:
            return False
        algorithm = get_signature_algorithm(settings_header)
        secret = self._signing_secret(settings_header)
        if not secret:
            log.error("Twilio webhook refused: no TWILIO_AUTH_TOKEN (or shared key) configured")
            return False
        # Sign against the public URL Twilio was given, not the Host header we were reached by
        # (a TLS-terminating proxy changes scheme, host and port). Fragments never reach us.
        url = settings.PUBLIC_BASE_URL + full_path
        return RequestValidator(secret).validate(url, params, signature, algorithm)

    @staticmethod
    def accounts() -> set[str]:
        """The Twilio accounts whose webhooks we take: TWILIO_ACCOUNT_SID and its subaccounts.

        Empty when none is configured (replies go to the local outbox): then the signature alone
        decides, as it must for `simulate_sms` and a desk tried without a Twilio account."""
        listed = [settings.TWILIO_ACCOUNT_SID, *settings.TWILIO_SUBACCOUNT_SIDS]
        return {sid.strip() for sid in listed if sid and sid.strip()}

    def account_refusal(self, payload: Payload) -> str:
        """Why a correctly signed webhook is still refused ("" when it is not): it speaks for an
        account that is not ours. A signature proves who holds the secret, not which account the
        message belongs to (a SharedKey, or an auth token reused across accounts)."""
        accounts = self.accounts()
        if not accounts:
            return ""
        account = payload_value(payload, "AccountSid")
        if account in accounts:
            return ""
        return f"AccountSid {account or '(none)'!r} is not TWILIO_ACCOUNT_SID or one of TWILIO_SUBACCOUNT_SIDS"

    @staticmethod
    def _signing_secret(settings_header: str) -> str:
        key_id = ""
        for part in settings_header.split(","):
            name, _, value = part.partition("=")
            if name.strip() == "key":
                key_id = value.strip()
        if key_id:
            return settings.TWILIO_WEBHOOK_SHARED_KEYS.get(key_id, "")
        return settings.TWILIO_AUTH_TOKEN

    @staticmethod
    def journal_key(payload: Payload, raw: bytes) -> tuple[str, str]:
        """(source, provider message id) under which a webhook is deduplicated."""
        account = payload_value(payload, "AccountSid") or "unknown"
        sid = (
            payload_value(payload, "MessageSid")
            or payload_value(payload, "SmsMessageSid")
            or payload_value(payload, "SmsSid")
        )
        if not sid:
            sid = payload_digest(raw)
        return f"twilio:{account}", sid

    def parse_inbound(self, payload: Payload, raw: bytes = b"") -> list[InboundMessage]:
        sid = (
            payload_value(payload, "MessageSid")
            or payload_value(payload, "SmsMessageSid")
            or payload_value(payload, "SmsSid")
        )
        if not sid:
            raise MalformedPayload("no MessageSid")
        if "Body" not in payload:
            raise MalformedPayload("no Body field")
        body = payload_value(payload, "Body")
        if len(body) > MAX_BODY_CHARS:
            raise MalformedPayload(f"Body is {len(body)} characters, more than Twilio's {MAX_BODY_CHARS}")
        kind, sender_raw = split_channel_address(payload_value(payload, "From"))
        if kind not in ("phone", "whatsapp"):
            raise MalformedPayload(f"unsupported sender channel {kind!r}")
        _, recipient_raw = split_channel_address(payload_value(payload, "To"))
        try:
            sender = normalize_phone(sender_raw, payload_value(payload, "FromCountry") or None)
            recipient = normalize_phone(recipient_raw, payload_value(payload, "ToCountry") or None)
        except InvalidPhoneNumber as exc:
            raise MalformedPayload(str(exc)) from exc
        try:
            num_media = int(payload_value(payload, "NumMedia") or 0)
        except ValueError as exc:
            raise MalformedPayload("NumMedia is not a number") from exc
        if num_media > MAX_MEDIA or num_media < 0:
            raise MalformedPayload(f"NumMedia={num_media}, Twilio sends at most {MAX_MEDIA}")
        attachments = []
        for index in range(num_media):
            url = payload_value(payload, f"MediaUrl{index}")
            if not url:
                raise MalformedPayload(f"MediaUrl{index} missing while NumMedia={num_media}")
            attachments.append(
                InboundAttachment(url=url, content_type=payload_value(payload, f"MediaContentType{index}"))
            )
        meta = {
            k: payload_value(payload, k)
            for k in (
                "ProfileName",
                "WaId",
                "FromCity",
                "FromState",
                "FromCountry",
                "NumSegments",
                "OriginalRepliedMessageSid",
                "Latitude",
                "Longitude",
                "ButtonText",
            )
            if payload_value(payload, k)
        }
        return [
            InboundMessage(
                channel=kind,
                sender=sender,
                sender_display=sender_raw,
                recipient=recipient,
                provider_message_id=sid,
                text=body,
                received_at=dt.datetime.now(dt.UTC),
                sender_name=payload_value(payload, "ProfileName"),
                attachments=tuple(attachments),
                opt_out=classify_opt_out(payload_value(payload, "OptOutType"), body),
                meta=meta,
            )
        ]

    def parse_status(self, payload: Payload) -> list[DeliveryStatus]:
        sid = payload_value(payload, "MessageSid") or payload_value(payload, "SmsSid")
        raw_status = (payload_value(payload, "MessageStatus") or payload_value(payload, "SmsStatus")).lower()
        status = STATUS_MAP.get(raw_status)
        if not sid or not status:
            raise MalformedPayload(f"status callback without a usable sid/status ({sid!r}, {raw_status!r})")
        return [
            DeliveryStatus(
                provider_message_id=sid,
                status=status,
                error_code=payload_value(payload, "ErrorCode"),
                error_message=payload_value(payload, "ChannelStatusMessage") or payload_value(payload, "ErrorMessage"),
            )
        ]

    # --- outbound --------------------------------------------------------------------
    def client(self) -> Client:
        http_client = TwilioHttpClient(timeout=settings.TWILIO_SEND_TIMEOUT)
        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)
        client.api.base_url = settings.TWILIO_API_BASE_URL
        return client

    def send(self, outbound: OutboundMessage) -> SendResult:
        prefix = "whatsapp:" if outbound.channel == "whatsapp" else ""
        kwargs: dict = {
            "to": prefix + outbound.to,
            # Our message id rides along: the first status callback of a send whose answer was
            # lost tells the outbox that Twilio has it (apps.bus.services.outbox).
            "status_callback": f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/status?m={outbound.message_id}",
        }
        content_sid = outbound.options.get("content_sid")
        if content_sid:
            # A content template goes alone: Twilio refuses Body or MediaUrl beside it (63016).
            kwargs["content_sid"] = content_sid
            if outbound.options.get("content_variables"):
                kwargs["content_variables"] = json.dumps(outbound.options["content_variables"], ensure_ascii=False)
        else:
            if outbound.body:
                kwargs["body"] = outbound.body
            if outbound.media_urls:
                kwargs["media_url"] = list(outbound.media_urls)
        service = outbound.options.get("messaging_service_sid")
        if service:
            kwargs["messaging_service_sid"] = service
        else:
            kwargs["from_"] = prefix + outbound.sender
        try:
            created = self.client().messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _send_error(exc.status, exc.code, str(exc.msg)) from exc
        except TwilioServiceException as exc:
            # RFC 9457 problem details (twilio >= 9.9): same status/code, classified the same way.
            raise _send_error(exc.status, exc.code, exc.detail or exc.title) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            if never_sent(exc):
                raise TransientSendError(f"Twilio unreachable: {exc}") from exc
            raise SendOutcomeUnknown(f"Twilio's answer was lost: {exc}") from exc
        except TwilioException as exc:
            raise TransientSendError(f"Twilio client error: {exc}") from exc
        return SendResult(provider_message_id=created.sid, status=STATUS_MAP.get(created.status or "", "queued"))

    def confirm(self, outbound: OutboundMessage, *, attempted_at: dt.datetime) -> SendResult | None:
        """Whether Twilio has this message (a send whose answer was lost): its Messages list to
        this number, newest first, for one from our number with our text, created since the
        attempt (a minute's leeway for clocks). Twilio creates the message before it answers
        the POST, so a message that is not listed was never taken."""
        prefix = "whatsapp:" if outbound.channel == "whatsapp" else ""
        filters: dict = {"to": prefix + outbound.to, "limit": 50, "page_size": 50}
        if not outbound.options.get("messaging_service_sid"):
            filters["from_"] = prefix + outbound.sender
        try:
            listed = self.client().messages.list(**filters)
        except (TwilioRestException, TwilioServiceException, TwilioException, requests.RequestException) as exc:
            raise TransientSendError(f"Twilio's Messages list could not be read: {exc}") from exc
        since = attempted_at - dt.timedelta(minutes=1)
        for item in listed:
            created = item.date_created
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            if (item.body or "") == outbound.body and (created is None or created >= since):
                return SendResult(provider_message_id=item.sid, status=STATUS_MAP.get(item.status or "", "queued"))
        return None

    # --- media -----------------------------------------------------------------------
    def media_hosts(self) -> set[str]:
        hosts = {h.lower() for h in settings.TWILIO_MEDIA_HOSTS}
        api_host = urlsplit(settings.TWILIO_API_BASE_URL).hostname
        if api_host:
            hosts.add(api_host.lower())
        return hosts

    def fetch_media(self, url: str) -> tuple[bytes, str]:
        """Download an inbound media file with Basic auth, from Twilio's hosts only.

        Redirects are followed by hand so that each hop is checked against the allowed hosts
        and the credentials are sent to the API host only (never to a CDN or S3 host, where
        media URLs are pre-signed).
        """
        allowed = self.media_hosts()
        auth_host = (urlsplit(settings.TWILIO_API_BASE_URL).hostname or "").lower()
        for _ in range(5):
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            if parts.scheme not in ("https", "http") or host not in allowed:
                raise PermanentSendError("media_host", f"media URL host {parts.hostname!r} is not a Twilio host")
            auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) if host == auth_host else None
            try:
                response = requests.get(url, auth=auth, stream=True, allow_redirects=False, timeout=15)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientSendError(f"media fetch failed: {exc}") from exc
            with response:  # a refused download must not leave its connection open
                if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    url = requests.compat.urljoin(url, response.headers["Location"])
                    continue
                return self._read_media(response)
        raise PermanentSendError("media_redirects", "too many redirects fetching media")

    @staticmethod
    def _read_media(response: requests.Response) -> tuple[bytes, str]:
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(f"media fetch answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentSendError("media_http", f"media fetch answered {response.status_code}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in settings.TWILIO_MEDIA_TYPES:
            raise PermanentSendError("media_type", f"media type {content_type!r} is not accepted")
        limit = settings.TWILIO_MEDIA_MAX_BYTES
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > limit:
            raise PermanentSendError("media_size", f"media is {declared} bytes, over the {limit} limit")
        too_large = PermanentSendError("media_size", f"media is over the {limit} byte limit")
        try:
            data = read_capped(response, max_bytes=limit, too_large=too_large)
        except requests.RequestException as exc:
            raise TransientSendError(f"media download broke off: {exc}") from exc
        return data, content_type
