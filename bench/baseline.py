"""The baseline the pipeline is compared with: the least a durable, fanned-out message costs.

One transaction: the event-order lock and the event doorbell (one round trip, as the event log
itself does), then one INSERT of an event row by raw SQL. Every web process's event stream reads
it from the log and its console hub pushes it to the sockets of the inbox, through the same
ConsoleConsumer, in order. It is a sync view like the Twilio webhook, so it runs on the same ASGI
thread and the same database pool; it neither verifies a signature nor parses anything beyond
the form, and it has no journal, no worker, no contact or conversation.
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.bus import doorbell
from apps.bus.events import EVENT_LOCK_KEY

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@csrf_exempt
@require_POST
def baseline_inbound(request: HttpRequest) -> HttpResponse:
    inbox_id = int(request.GET["inbox"])
    data = {"body": request.POST.get("Body", ""), "baseline": True}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s), pg_notify(%s, '')", [EVENT_LOCK_KEY, doorbell.EVENTS])
            cursor.execute(
                "INSERT INTO bus_event (type, conversation_id, inbox_id, agent_id, data, created_at)"
                " VALUES (%s, NULL, %s, NULL, %s, now())",
                ["message.created", inbox_id, json.dumps(data)],
            )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml; charset=utf-8")
