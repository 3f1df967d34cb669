"""REST API v1: outgoing webhooks (admins) and status broadcasts (docs/webhooks.md,
docs/broadcasts.md). Both are gated in their services: webhooks on `may_manage_webhooks`,
broadcasts on `apps.broadcasts.permissions.may_broadcast`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import error_response
from apps.api.views import BaseAPIView, _agent, _int_param
from apps.broadcasts.models import Broadcast, BroadcastRecipient
from apps.broadcasts.permissions import may_broadcast
from apps.broadcasts.services import (
    broadcast_cancel,
    broadcast_create,
    broadcast_preview,
    broadcast_report,
    broadcast_send,
    broadcast_text,
)
from apps.core.errors import InvalidInput, PermissionDenied
from apps.webhooks import catalogue, selectors
from apps.webhooks.services import (
    may_manage_webhooks,
    webhook_delivery_replay,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_ping,
    webhook_subscription_update,
)

_object = {200: OpenApiTypes.OBJECT}


def _data(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput("send a JSON object", code="invalid")
    return dict(request.data)


def _webhooks_admin(request: Request) -> None:
    if not may_manage_webhooks(_agent(request)):
        raise PermissionDenied("only an admin can manage webhooks")


def _broadcaster(request: Request) -> None:
    if not may_broadcast(_agent(request)):
        raise PermissionDenied("only an admin can send status broadcasts")


# --- webhooks ------------------------------------------------------------------------------


class WebhookEventTypesView(BaseAPIView):
    @extend_schema(responses=_object, description="The public webhook event names and what they mean.")
    def get(self, request: Request) -> Response:
        return Response({"results": [{"name": n, "description": d} for n, d in catalogue.EVENT_TYPES.items()]})


class WebhookListView(BaseAPIView):
    @extend_schema(responses=_object)
    def get(self, request: Request) -> Response:
        _webhooks_admin(request)
        return Response({"results": [selectors.subscription_data(s) for s in selectors.subscriptions()]})

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        description='{"url", "event_types": [...] ([] = all), "description", "allow_private"}. '
        "The answer carries the signing secret.",
    )
    def post(self, request: Request) -> Response:
        data = _data(request)
        subscription = webhook_subscription_create(
            by=_agent(request),
            url=str(data.get("url") or ""),
            event_types=data.get("event_types") or [],
            description=str(data.get("description") or ""),
            allow_private=bool(data.get("allow_private")),
        )
        return Response(selectors.subscription_data(subscription, with_secret=True), status=201)


class WebhookDetailView(BaseAPIView):
    @extend_schema(responses=_object, description="The subscription, with its secret (admins only).")
    def get(self, request: Request, pk: int) -> Response:
        _webhooks_admin(request)
        subscription = selectors.subscriptions().filter(pk=pk).first()
        if subscription is None:
            return error_response("not_found", "no such webhook", 404)
        return Response(selectors.subscription_data(subscription, with_secret=True))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=_object)
    def patch(self, request: Request, pk: int) -> Response:
        allowed = ("url", "event_types", "description", "allow_private", "active", "rotate_secret")
        data = _data(request)
        changes: dict[str, Any] = {k: data[k] for k in allowed if k in data}
        subscription = webhook_subscription_update(by=_agent(request), subscription_id=pk, **changes)
        return Response(selectors.subscription_data(subscription, with_secret=bool(changes.get("rotate_secret"))))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        webhook_subscription_delete(by=_agent(request), subscription_id=pk)
        return Response(status=204)


class WebhookPingView(BaseAPIView):
    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT},
        description="Queue a signed `ping` delivery to the webhook's URL (a test event).",
    )
    def post(self, request: Request, pk: int) -> Response:
        delivery = webhook_subscription_ping(by=_agent(request), subscription_id=pk)
        return Response(selectors.delivery_data(delivery), status=202)


class WebhookDeliveryListView(BaseAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, description="pending, succeeded or failed"),
            OpenApiParameter("before", int, description="Older than this delivery id (the next page)."),
        ],
        responses=_object,
        description="The delivery log, newest first, 50 a page.",
    )
    def get(self, request: Request, pk: int) -> Response:
        _webhooks_admin(request)
        rows = selectors.deliveries_page(
            subscription_id=pk, state=request.query_params.get("state") or None, before=_int_param(request, "before")
        )
        return Response(
            {
                "results": [selectors.delivery_data(d) for d in rows],
                "next": rows[-1].pk if len(rows) == 50 else None,
            }
        )


class WebhookDeliveryDetailView(BaseAPIView):
    @extend_schema(responses=_object, description="A delivery with its body and every attempt.")
    def get(self, request: Request, pk: int) -> Response:
        _webhooks_admin(request)
        data = selectors.delivery_detail(delivery_id=pk)
        if data is None:
            return error_response("not_found", "no such delivery", 404)
        return Response(data)


class WebhookDeliveryReplayView(BaseAPIView):
    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT},
        description="Send the delivery again (same id and body, signed afresh); the bus worker sends it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        delivery = webhook_delivery_replay(by=_agent(request), delivery_id=pk)
        return Response(selectors.delivery_data(delivery), status=202)


# --- broadcasts ----------------------------------------------------------------------------


def _broadcast_data(broadcast: Broadcast) -> dict[str, Any]:
    return {
        "id": broadcast.pk,
        "title": broadcast.title,
        "body": broadcast.body,
        "status_url": broadcast.status_url,
        "text": broadcast_text(broadcast),
        "audience": broadcast.audience,
        "whatsapp_template": broadcast.whatsapp_template,
        "state": broadcast.state,
        "created_by": broadcast.created_by_id,
        "created_at": broadcast.created_at.isoformat(),
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
    }


class BroadcastListView(BaseAPIView):
    @extend_schema(responses=_object)
    def get(self, request: Request) -> Response:
        _broadcaster(request)
        rows = Broadcast.objects.order_by("-id")[:100]
        return Response({"results": [_broadcast_data(b) for b in rows]})

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        description='A draft: {"title", "body", "status_url", "audience": {"kind": "label", "label": id} | '
        '{"kind": "search", "q", "inbox"} | {"kind": "contacts", "contacts": [ids]}, '
        '"whatsapp_template": {"sid", "variables"}}',
    )
    def post(self, request: Request) -> Response:
        data = _data(request)
        broadcast = broadcast_create(
            by=_agent(request),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            status_url=str(data.get("status_url") or ""),
            audience=data.get("audience"),
            whatsapp_template=data.get("whatsapp_template"),
        )
        return Response(_broadcast_data(broadcast), status=201)


class BroadcastDetailView(BaseAPIView):
    @extend_schema(responses=_object, description="The broadcast and its report.")
    def get(self, request: Request, pk: int) -> Response:
        _broadcaster(request)
        broadcast = Broadcast.objects.filter(pk=pk).first()
        if broadcast is None:
            return error_response("not_found", "no such broadcast", 404)
        return Response({**_broadcast_data(broadcast), "report": broadcast_report(broadcast_id=pk)})


class BroadcastPreviewView(BaseAPIView):
    @extend_schema(request=None, responses=_object, description="How many get it, on which channel; who is skipped.")
    def get(self, request: Request, pk: int) -> Response:
        return Response(broadcast_preview(by=_agent(request), broadcast_id=pk))


class BroadcastSendView(BaseAPIView):
    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        broadcast = broadcast_send(by=_agent(request), broadcast_id=pk)
        return Response(_broadcast_data(broadcast), status=202)


class BroadcastCancelView(BaseAPIView):
    @extend_schema(request=None, responses=_object)
    def post(self, request: Request, pk: int) -> Response:
        broadcast = broadcast_cancel(by=_agent(request), broadcast_id=pk)
        return Response(_broadcast_data(broadcast))


class BroadcastRecipientListView(BaseAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("state", str), OpenApiParameter("after", int)],
        responses=_object,
        description="The recipients with their outcome, 100 a page.",
    )
    def get(self, request: Request, pk: int) -> Response:
        _broadcaster(request)
        rows = BroadcastRecipient.objects.filter(broadcast_id=pk).select_related("contact", "identity", "message")
        state = request.query_params.get("state")
        if state:
            rows = rows.filter(state=state)
        after = _int_param(request, "after")
        if after:
            rows = rows.filter(id__gt=after)
        page = list(rows.order_by("id")[:100])
        return Response(
            {
                "results": [
                    {
                        "id": r.pk,
                        "contact": r.contact_id,
                        "name": r.contact.name,
                        "address": r.identity.address if r.identity else "",
                        "channel": r.channel,
                        "template": r.use_template,
                        "conversation": r.conversation_id,
                        "state": r.state,
                        "reason": r.reason,
                        "detail": r.detail,
                        "message": r.message_id,
                        "message_status": r.message.status if r.message else None,
                        "error": (r.message.error_message or r.message.error_code) if r.message else "",
                    }
                    for r in page
                ],
                "next": page[-1].pk if len(page) == 100 else None,
            }
        )
