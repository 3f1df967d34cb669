"""Twilio webhooks: verify, journal, answer. Nothing else happens before the answer."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.bus.services import inbound_accept, status_receipt_record
from apps.gateways.base import MalformedPayload
from apps.gateways.twilio.gateway import EMPTY_TWIML, TwilioGateway, payload_is_utf8

log = logging.getLogger(__name__)


def _twiml() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml; charset=utf-8")


def _forbidden(request: HttpRequest, reason: str = "bad or missing signature") -> HttpResponse:
    log.warning("Twilio webhook %s refused: %s (from %s)", request.path, reason, request.META.get("REMOTE_ADDR"))
    answer = "invalid signature" if reason.startswith("bad or missing") else "unknown account"
    return HttpResponseForbidden(answer, content_type="text/plain")


def _refusal(gateway: TwilioGateway, request: HttpRequest) -> HttpResponse | None:
    """403 for a webhook that is not signed by us or not for our account; None to go on."""
    if not gateway.verify(request):
        return _forbidden(request)
    reason = gateway.account_refusal(dict(request.POST.lists()))
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


@csrf_exempt
@require_POST
def inbound_message(request: HttpRequest) -> HttpResponse:
    raw = request.body  # read before request.POST consumes the stream
    gateway = TwilioGateway()
    refused = _refusal(gateway, request)
    if refused is not None:
        return refused
    payload, had_nul = _storable(dict(request.POST.lists()))
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
    return _twiml()


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    gateway = TwilioGateway()
    refused = _refusal(gateway, request)
    if refused is not None:
        return refused
    payload, _ = _storable(dict(request.POST.lists()))
    try:
        statuses = gateway.parse_status(payload)
    except MalformedPayload as exc:
        # Answer 200 so Twilio does not retry something we will never understand; keep a trace.
        log.warning("Twilio status callback ignored: %s; payload %s", exc, payload)
        return _twiml()
    source = f"twilio:{(payload.get('AccountSid') or [''])[0]}"
    flat = {k: v[0] if len(v) == 1 else v for k, v in payload.items()}
    # The status callback URL of our sends carries our message id (`?m=`, signed with the rest).
    ref = request.GET.get("m", "")
    message_ref = int(ref) if ref.isdigit() and len(ref) < 19 else None
    for status in statuses:
        status_receipt_record(source=source, status=status, payload=flat, message_ref=message_ref)
    return _twiml()
