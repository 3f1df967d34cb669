"""The Telegram webhook: check the secret, journal the update, answer 200. Nothing else."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.accounts.models import Inbox
from apps.gateways.telegram.gateway import secret_matches
from apps.gateways.telegram.intake import update_accept
from apps.gateways.telegram.models import TelegramBot

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, key: str) -> HttpResponse:
    bot = (
        TelegramBot.objects.filter(inbox__key=key, inbox__channel=Inbox.Channel.TELEGRAM)
        .only("pk", "token", "webhook_secret", "inbox_id")
        .first()
    )
    if bot is None:
        return HttpResponseNotFound("no such Telegram inbox", content_type="text/plain")
    if not secret_matches(bot, request):
        log.warning("Telegram webhook %s refused: bad or missing secret token", request.path)
        return HttpResponseForbidden("bad secret token", content_type="text/plain")
    update_accept(bot, request.body)
    return HttpResponse(b"", content_type="text/plain")
