"""Reads for the console and the API: subscriptions and their delivery log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


def subscription_data(subscription: WebhookSubscription, *, with_secret: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": subscription.pk,
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "active": subscription.active,
        "allow_private": subscription.allow_private,
        "created_at": subscription.created_at.isoformat(),
        "secret_hint": subscription.secret[:10] + "…",
    }
    if with_secret:
        data["secret"] = subscription.secret
    return data


def subscriptions() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.order_by("id")


def attempt_data(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "replay": attempt.replay,
        "started_at": attempt.started_at.isoformat(),
        "status": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "response": attempt.response_excerpt,
    }


def delivery_data(delivery: WebhookDelivery, attempts: list[WebhookAttempt] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": delivery.pk,
        "subscription": delivery.subscription_id,
        "webhook_id": delivery.webhook_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_latency_ms": delivery.last_latency_ms,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.state == "pending" else None,
        "replay_requested": delivery.replay_requested,
        "created_at": delivery.created_at.isoformat(),
        "finished_at": delivery.finished_at.isoformat() if delivery.finished_at else None,
    }
    if attempts is not None:
        data["attempt_log"] = [attempt_data(a) for a in attempts]
        data["body"] = delivery.body
    return data


def deliveries_page(
    *, subscription_id: int, state: str | None = None, before: int | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    rows = WebhookDelivery.objects.filter(subscription_id=subscription_id).defer("body")
    if state:
        rows = rows.filter(state=state)
    if before:
        rows = rows.filter(id__lt=before)
    return list(rows.order_by("-id")[:limit])


def delivery_detail(*, delivery_id: int) -> dict[str, Any] | None:
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return None
    return delivery_data(delivery, list(delivery.attempt_log.order_by("id")))
