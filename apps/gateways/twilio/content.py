"""Twilio's Content API: the WhatsApp templates of the account (channels-next.md §3.3).

Read with the twilio SDK from `TWILIO_CONTENT_BASE_URL` (https://content.twilio.com), through
`GET /v1/ContentAndApprovals`, which gives each template with its WhatsApp approval status in
one list (`GET /v1/Content` would need one more request per template for the status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from apps.gateways.base import TransientSendError
from apps.gateways.twilio.gateway import TwilioGateway


@dataclass(frozen=True)
class ContentTemplate:
    sid: str
    friendly_name: str
    language: str
    variables: dict[str, str] = field(default_factory=dict)  # placeholder -> sample value
    types: dict[str, Any] = field(default_factory=dict)  # "twilio/text" -> {"body": …}, …
    approval: str = ""  # WhatsApp approval status: approved, pending, rejected, … ("" unsubmitted)
    whatsapp_name: str = ""
    category: str = ""


def _approval(requests_field: Any) -> tuple[str, str, str]:
    """(status, name, category) of the WhatsApp approval request, in either shape Twilio uses
    (flat in ContentAndApprovals, under "whatsapp" in ApprovalRequests)."""
    if not isinstance(requests_field, dict):
        return "", "", ""
    nested = requests_field.get("whatsapp")
    whatsapp: dict[str, Any] = nested if isinstance(nested, dict) else requests_field
    return (
        str(whatsapp.get("status") or "").lower(),
        str(whatsapp.get("name") or ""),
        str(whatsapp.get("category") or ""),
    )


def content_templates_list() -> list[ContentTemplate]:
    """Every content template of the account. Raises TransientSendError when Twilio cannot be
    read (unreachable, 5xx, refused credentials): the caller keeps what it had."""
    client = TwilioGateway().client()
    client.content.base_url = settings.TWILIO_CONTENT_BASE_URL
    try:
        items = client.content.v1.content_and_approvals.list(page_size=100)
    except (TwilioRestException, TwilioServiceException, TwilioException, requests.RequestException) as exc:
        raise TransientSendError(f"Twilio's Content API could not be read: {exc}") from exc
    templates = []
    for item in items:
        if not item.sid:
            continue
        status, name, category = _approval(item.approval_requests)
        templates.append(
            ContentTemplate(
                sid=item.sid,
                friendly_name=item.friendly_name or "",
                language=item.language or "",
                variables={str(k): str(v) for k, v in (item.variables or {}).items()},
                types=dict(item.types or {}),
                approval=status,
                whatsapp_name=name,
                category=category,
            )
        )
    return templates
