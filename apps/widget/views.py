"""The widget's HTTP API (/widget/api/…): sessions, messages, uploads, the email a visitor leaves.

Called cross-origin from the host site's pages: every answer carries CORS headers for an allowed
Origin (never `*`), preflights are answered, and a disallowed Origin gets 403
origin_not_allowed. Visitors authenticate with `Authorization: Bearer <token>`; no cookies, so
there is no CSRF to defend against. Writes go through apps.widget.services.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.models import Inbox
from apps.core.errors import DomainError
from apps.csat.models import Survey
from apps.csat.services import survey_answer
from apps.gateways.mastodon.gateway import desk_handles, link_instructions
from apps.linking.services import link_start
from apps.widget import services
from apps.widget.models import Visitor, WidgetSettings
from apps.widget.origins import origin_allowed
from apps.widget.services import WidgetError

ALLOW_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _cors(response: Any, origin: str | None, methods: str) -> HttpResponse:
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    response["Cache-Control"] = "no-store"
    return response


def client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WidgetError("bad_request", "the body is not valid JSON", 400) from exc
    if not isinstance(body, dict):
        raise WidgetError("bad_request", "the body must be a JSON object", 400)
    return body


def _settings_for_key(key: str) -> WidgetSettings | None:
    inbox = Inbox.objects.select_related("widget").filter(key=key, channel=Inbox.Channel.WIDGET).first()
    if inbox is None:
        return None
    return services.widget_settings_for(inbox)


def widget_endpoint(methods: str) -> Callable[[Callable[..., Any]], Callable[..., HttpResponse]]:
    """CORS, preflights, the method list and WidgetError -> JSON for one widget API view."""
    allowed = {m.strip() for m in methods.split(",")}

    def wrap(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            origin = request.headers.get("Origin")
            if request.method == "OPTIONS":
                # A preflight carries no body or token: the real request is checked in full.
                return _cors(HttpResponse(status=204), origin, methods + ", OPTIONS")
            if request.method not in allowed:
                return _cors(error("method_not_allowed", f"use {methods}", 405), origin, methods)
            try:
                response = view(request, *args, **kwargs)
            except WidgetError as exc:
                # Readable by the page even for origin_not_allowed (it says nothing else), so
                # that the loader can tell "not allowed here" from a network error.
                response = error(exc.code, exc.message, exc.status)
            return _cors(response, origin, methods)

        return handler

    return wrap


def _check_origin(request: HttpRequest, ws: WidgetSettings | None) -> None:
    if not origin_allowed(ws, request.headers.get("Origin"), request.get_host()):
        raise WidgetError("origin_not_allowed", "this site may not use this chat widget", 403)


def _visitor(request: HttpRequest) -> Visitor:
    """The visitor behind the Bearer token (the inbox is the token's), admitted as on the socket."""
    token = _bearer(request)
    if not token:
        raise WidgetError("unauthorized", "a visitor token is required (Authorization: Bearer …)", 401)
    visitor = (
        Visitor.objects.select_related("inbox", "inbox__widget", "identity")
        .filter(token_hash=services.token_hash(token), inbox__channel=Inbox.Channel.WIDGET)
        .first()
    )
    if visitor is None:
        raise WidgetError("unauthorized", "that visitor token is not valid; start a new session", 401)
    # The socket's admission rule (origin, identity required), not a copy of it.
    services.visitor_admit(visitor, origin=request.headers.get("Origin"), host=request.get_host())
    return visitor


@widget_endpoint("POST")
def session(request: HttpRequest) -> HttpResponse:
    body = _json_body(request)
    key = body.get("inbox")
    if not isinstance(key, str) or not key:
        raise WidgetError("bad_request", "inbox (the widget's key) is required", 400)
    ws = _settings_for_key(key)
    if ws is None:
        raise WidgetError("unknown_inbox", "no widget inbox has that key", 404)
    _check_origin(request, ws)
    services.connect_rate_check(client_ip(request))
    result = services.visitor_session(
        inbox_key=key,
        token=body.get("token") or None,
        user_id=body.get("user_id") or None,
        user_hash_given=body.get("user_hash") or None,
        name=body.get("name"),
        email=body.get("email"),
        inbox=ws.inbox,
        page_url=body.get("page"),
        user_agent=request.headers.get("User-Agent", ""),
        time_zone=body.get("time_zone"),
    )
    inbox = result.visitor.inbox
    return JsonResponse(
        {
            "token": result.token,
            "visitor": services.visitor_data(result.visitor),
            "inbox": services.inbox_data(inbox),
            "limits": services.limits_data(),
            "socket": "/ws/widget/",
            # A signed-in customer may link a Mastodon account when the desk has one (asked
            # only for them: anonymous sessions spend no query on it).
            "social_links": result.visitor.verified and bool(desk_handles()),
        }
    )


def _int_param(request: HttpRequest, name: str, default: int | None) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise WidgetError("bad_request", f"{name} must be an integer", 400) from exc


@widget_endpoint("GET, POST")
def messages(request: HttpRequest) -> HttpResponse:
    visitor = _visitor(request)
    if request.method == "GET":
        before = _int_param(request, "before", None)
        limit = _int_param(request, "limit", 50) or 50
        page, more = services.visitor_messages_page(visitor=visitor, before=before, limit=limit)
        services.visitor_messages_seen(visitor=visitor, messages=page)
        return JsonResponse({"messages": [services.visitor_message_data(m) for m in page], "more": more})
    client_id: Any
    text: Any
    if request.content_type == "multipart/form-data":
        client_id = request.POST.get("client_id", "")
        text = request.POST.get("text", "")
        uploads = request.FILES.getlist("file")
    else:
        body = _json_body(request)
        client_id, text, uploads = body.get("client_id"), body.get("text", ""), []
    message, created = services.visitor_message_send(visitor=visitor, client_id=client_id, text=text, uploads=uploads)
    return JsonResponse({"message": services.visitor_message_data(message)}, status=201 if created else 200)


@widget_endpoint("POST")
def email(request: HttpRequest) -> HttpResponse:
    visitor = _visitor(request)
    address = services.visitor_set_email(visitor=visitor, email=_json_body(request).get("email"))
    return JsonResponse({"email": address})


@widget_endpoint("POST")
def link(request: HttpRequest) -> HttpResponse:
    """A signed-in visitor links their Mastodon account: a one-time code to send privately from
    it (docs/mastodon.md). Only a visitor the host site vouched for (user_id with a valid hash)."""
    visitor = _visitor(request)
    if not visitor.verified:
        raise WidgetError("sign_in_required", "sign in on the site to link a social account", 403)
    kind = _json_body(request).get("kind") or "mastodon"
    try:
        issued = link_start(contact_id=visitor.identity.contact_id, kind=kind)
    except DomainError as exc:
        raise WidgetError(exc.code, exc.message, exc.status) from exc
    return JsonResponse(
        {
            "code": issued.code,
            "kind": issued.link.kind,
            "expires_at": issued.link.expires_at.isoformat(),
            "send_to": desk_handles(),
            "instructions": link_instructions(issued.code),
        },
        status=201,
    )


@widget_endpoint("POST")
def csat(request: HttpRequest) -> HttpResponse:
    """The inline rating of a satisfaction survey asked in the chat (apps.csat): only for a
    survey of this visitor's own conversation."""
    visitor = _visitor(request)
    body = _json_body(request)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise WidgetError("bad_request", "`token` is the survey's", 400)
    if not Survey.objects.filter(token=token, identity__contact_id=visitor.identity.contact_id).exists():
        raise WidgetError("not_found", "no such survey", 404)
    try:
        survey = survey_answer(token=token, rating=body.get("rating"), comment=str(body.get("comment") or "")[:2000])
    except DomainError as exc:
        raise WidgetError(exc.code, exc.message, exc.status) from None
    return JsonResponse({"rating": survey.rating, "comment": survey.comment})


@widget_endpoint("GET")
def file(request: HttpRequest, signed: str) -> HttpResponse | FileResponse:
    """A stored file of a visitor's conversation, by its signed, time-limited URL."""
    attachment = services.attachment_from_signed(signed)
    if attachment is None:
        raise WidgetError("not_found", "that file link is not valid or has expired", 404)
    content_type = attachment.content_type or mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
    inline = content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:  # storage lost it: say so, not a 500
        raise WidgetError("not_found", "that file is no longer stored", 404) from exc
    response = FileResponse(handle, content_type=content_type, as_attachment=not inline, filename=attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
