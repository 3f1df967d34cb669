"""Twilio webhooks: verify, journal, answer. Nothing else happens before the answer.

`inbound_message_handle` and `status_callback_handle` are the webhooks: plain functions of the
request (apps.bus.ingest.WebhookRequest). Under ASGI the bus's lean front serves them before
Django (registered in channel.py); the Django views below call the same functions, so the
test client and WSGI answer exactly alike.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.bus.ingest import WebhookAnswer, WebhookRequest, answer_django
from apps.bus.services import inbound_accept, status_receipt_record
from apps.gateways.base import MalformedPayload
from apps.gateways.twilio.gateway import EMPTY_TWIML, TwilioGateway, payload_is_utf8

log = logging.getLogger(__name__)

_TWIML = WebhookAnswer(status=200, body=EMPTY_TWIML.encode(), content_type="text/xml; charset=utf-8")


def _forbidden(request: WebhookRequest, reason: str = "bad or missing signature") -> WebhookAnswer:
    log.warning("Twilio webhook %s refused: %s (from %s)", request.path, reason, request.remote_addr)
    answer = "invalid signature" if reason.startswith("bad or missing") else "unknown account"
    return WebhookAnswer(status=403, body=answer.encode(), content_type="text/plain")


def _refusal(gateway: TwilioGateway, request: WebhookRequest) -> WebhookAnswer | None:
    """403 for a webhook that is not signed by us or not for our account; None to go on."""
    signed = gateway.signature_valid(
        full_path=request.full_path,
        params=request.form,
        signature=request.header("X-Twilio-Signature"),
        settings_header=request.header("X-Twilio-Webhooks-Signature-Settings"),
    )
    if not signed:
        return _forbidden(request)
    reason = gateway.account_refusal(dict(request.form.lists()))
    if reason:
        return _forbidden(request, reason)
    return None


def _storable(payload: dict[str, list[str]]) -> tuple[dict[str, list[str]], bool]:
    """PostgreSQL text and jsonb cannot hold NUL (GSM-7 '@' is 0x00 and sometimes arrives so).

    NULs become U+FFFD in what is stored and parsed; the raw body keeps the exact bytes.
    Returns (payload, whether anything was replaced).
    """
    if not any("\x00" in k or any("\x00" in v for v in vs) for k, vs in payload.items()):
        return payload, False
    clean = {k.replace("\x00", "\ufffd"): [v.replace("\x00", "\ufffd") for v in vs] for k, vs in payload.items()}
    return clean, True


def inbound_message_handle(request: WebhookRequest) -> WebhookAnswer:
    raw = request.body
    gateway = TwilioGateway()
    refused = _refusal(gateway, request)
    if refused is not None:
        return refused
    payload, had_nul = _storable(dict(request.form.lists()))
    source, provider_id = gateway.journal_key(payload, raw)
    flag = "" if payload_is_utf8(raw) else "the form body is not UTF-8"
    if had_nul and not flag:
        flag = "the form body contains NUL characters"
    sender = (payload.get("From") or [""])[0]
    inbound_accept(
        source=source,
        provider_message_id=provider_id,
        channel="sms",
        sender=sender,
        payload=payload,
        raw=raw,
        flag_reason=flag,
    )
    return _TWIML


def status_callback_handle(request: WebhookRequest) -> WebhookAnswer:
    gateway = TwilioGateway()
    refused = _refusal(gateway, request)
    if refused is not None:
        return refused
    payload, _ = _storable(dict(request.form.lists()))
    try:
        statuses = gateway.parse_status(payload)
    except MalformedPayload as exc:
        # Answer 200 so Twilio does not retry something we will never understand; keep a trace.
        log.warning("Twilio status callback ignored: %s; payload %s", exc, payload)
        return _TWIML
    source = f"twilio:{(payload.get('AccountSid') or [''])[0]}"
    flat = {k: v[0] if len(v) == 1 else v for k, v in payload.items()}
    # The status callback URL of our sends carries our message id (`?m=`, signed with the rest).
    ref = request.query.get("m", "")
    message_ref = int(ref) if ref.isdigit() and len(ref) < 19 else None
    for status in statuses:
        status_receipt_record(source=source, status=status, payload=flat, message_ref=message_ref)
    return _TWIML


@csrf_exempt
@require_POST
def inbound_message(request: HttpRequest) -> HttpResponse:
    return answer_django(inbound_message_handle, request)


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    return answer_django(status_callback_handle, request)
