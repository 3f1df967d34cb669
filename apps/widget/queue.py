"""GET /widget/api/queue: where the visitor's waiting conversation stands (apps.dispatch.queue).

The widget asks while the visitor waits for an agent (every few seconds, and right after they
write), so the place and the expected wait it shows follow the queue as it moves."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.conversations.models import Conversation
from apps.dispatch.queue import queue_status, wait_words
from apps.widget.services.visibility import _conversations_q
from apps.widget.views import _visitor, widget_endpoint


@widget_endpoint("GET")
def queue(request: HttpRequest) -> HttpResponse:
    visitor = _visitor(request)
    conversation = (
        Conversation.objects.filter(_conversations_q(visitor), status=Conversation.Status.OPEN)
        .order_by("-last_activity_at", "-id")
        .distinct()
        .first()
    )
    poll = settings.WIDGET_QUEUE_POLL_SECONDS
    if conversation is None:
        return JsonResponse({"waiting": False, "conversation": None, "poll_seconds": poll})
    status = queue_status(conversation)
    return JsonResponse(
        {
            **status.data(),
            "conversation": conversation.pk,
            "expected_wait": wait_words(status.expected_wait_seconds),
            "poll_seconds": poll,
        }
    )
