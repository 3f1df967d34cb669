"""The baseline the pipeline is compared with: the least a durable, fanned-out message costs.

One INSERT (an event row, by raw SQL, in its own transaction) and, after commit, one channel
layer group_send of an event-shaped frame to the inbox group the consoles already listen on, so
the same ConsoleConsumer delivers it. It is a sync view like the Twilio webhook, so it runs on
the same ASGI thread and the same database pool; it neither verifies a signature nor parses
anything beyond the form.
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@csrf_exempt
@require_POST
def baseline_inbound(request: HttpRequest) -> HttpResponse:
    inbox_id = int(request.GET["inbox"])
    data = {"body": request.POST.get("Body", ""), "baseline": True}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bus_event (type, conversation_id, inbox_id, agent_id, data, created_at)"
                " VALUES (%s, NULL, %s, NULL, %s, now()) RETURNING id",
                ["message.created", inbox_id, json.dumps(data)],
            )
            event_id = cursor.fetchone()[0]
    frame = {"id": event_id, "type": "message.created", "conversation": None, "data": data}
    async_to_sync(get_channel_layer().group_send)(f"inbox.{inbox_id}", {"type": "event.push", "event": frame})
    return HttpResponse(EMPTY_TWIML, content_type="text/xml; charset=utf-8")
