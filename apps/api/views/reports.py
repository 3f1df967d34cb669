"""Reports (JSON and CSV) and the full-text search (issue 13)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import error_response
from apps.api.views.base import BaseAPIView, _agent, _int_param
from apps.conversations.models import Message
from apps.core.errors import InvalidInput
from apps.reports import search as search_selectors
from apps.reports.permissions import can_see_reports
from apps.reports.registry import ReportFilters
from apps.reports.selectors import report, report_csv_rows, report_filters


def _date_param(request: Request, name: str) -> dt.date | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"`{name}` must be a date (YYYY-MM-DD)", code=f"invalid_{name}") from None


REPORT_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, included (default: today)"),
    OpenApiParameter("tz", str, description="IANA time zone of the days and hours (default UTC)"),
    OpenApiParameter("team", int),
    OpenApiParameter("agent", int, description="the conversations' assignee"),
    OpenApiParameter("channel", str, description="an inbox channel: sms, email, widget, telegram, xmpp, …"),
    OpenApiParameter("inbox", int),
]


def _filters(request: Request) -> ReportFilters:
    return report_filters(
        start=_date_param(request, "from"),
        end=_date_param(request, "to"),
        tz=request.query_params.get("tz") or "UTC",
        team_id=_int_param(request, "team"),
        agent_id=_int_param(request, "agent"),
        channel=request.query_params.get("channel") or None,
        inbox_id=_int_param(request, "inbox"),
    )


def _forbidden() -> Response:
    return error_response("forbidden", "the reports are for supervisors and admins", 403)


class ReportView(BaseAPIView):
    @extend_schema(parameters=REPORT_PARAMETERS, responses=OpenApiTypes.OBJECT, operation_id="report")
    def get(self, request: Request) -> Response:
        """Volume, first-response and resolution times (median, p90), backlog, SLA attainment and
        CSAT (null until an app provides them), in total, per agent and per team (docs/reports.md)."""
        if not can_see_reports(_agent(request)):
            return _forbidden()
        return Response(report(_filters(request)))


class ReportCsvView(BaseAPIView):
    @extend_schema(
        parameters=REPORT_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR}, operation_id="report_csv"
    )
    def get(self, request: Request) -> Any:
        """The same report as CSV: total, agents, teams, then the series per bucket."""
        if not can_see_reports(_agent(request)):
            return _forbidden()
        filters = _filters(request)
        data = report(filters)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in report_csv_rows(data):
            writer.writerow([_csv_safe(v) for v in row])
        name = f"report-{filters.start.date()}-{(filters.end - dt.timedelta(days=1)).date()}.csv"
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (an agent's or team's name) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _message_data(message: Message, parsed: search_selectors.ParsedQuery) -> dict[str, Any]:
    conversation = message.conversation
    return {
        "id": message.pk,
        "conversation": conversation.pk,
        "seq": message.seq,
        "kind": message.kind,
        "direction": message.direction,
        "created_at": message.created_at.isoformat(),
        "sender": message.sender.name if message.sender else None,
        "snippet": search_selectors.snippet(message.body, parsed),
        "contact": {"id": conversation.contact_id, "name": conversation.contact.name},
        "status": conversation.status,
        "assignee": conversation.assignee_id,
        "inbox": {"id": conversation.inbox_id, "name": conversation.inbox.name, "channel": conversation.inbox.channel},
    }


class SearchView(BaseAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, required=True, description='words, "a phrase", -excluded; the last word is a prefix'
            ),
            OpenApiParameter("types", str, description="comma-separated: messages, notes, contacts (default all)"),
            OpenApiParameter("channel", str),
            OpenApiParameter("status", str, enum=["open", "pending", "snoozed", "resolved"]),
            OpenApiParameter("agent", int, description="the conversation's assignee"),
            OpenApiParameter("from", OpenApiTypes.DATE),
            OpenApiParameter("to", OpenApiTypes.DATE, description="included"),
            OpenApiParameter("tz", str, description="of `from`/`to` (default UTC)"),
            OpenApiParameter("before", int, description="next page: the `next` of the previous answer"),
            OpenApiParameter("limit", int, description="1-50, default 20"),
        ],
        responses=OpenApiTypes.OBJECT,
        operation_id="search",
    )
    def get(self, request: Request) -> Response:
        """Messages, private notes and contacts the agent may see, newest messages first
        (docs/search.md)."""
        agent = _agent(request)
        q = request.query_params.get("q", "")
        types = {t for t in (request.query_params.get("types") or "messages,notes,contacts").split(",") if t}
        if not types <= {"messages", "notes", "contacts"}:
            raise InvalidInput("`types` takes messages, notes, contacts", code="invalid_types")
        filters_ = _filters(request) if request.query_params.get("from") or request.query_params.get("to") else None
        filters = search_selectors.SearchFilters(
            channel=request.query_params.get("channel") or None,
            status=request.query_params.get("status") or None,
            agent_id=_int_param(request, "agent"),
            start=filters_.start if filters_ and request.query_params.get("from") else None,
            end=filters_.end if filters_ and request.query_params.get("to") else None,
        )
        kinds = tuple(k for k, t in ((Message.Kind.MESSAGE, "messages"), (Message.Kind.NOTE, "notes")) if t in types)
        messages: list[Message] = []
        more = False
        parsed = search_selectors.parse_query(q)
        if kinds:
            messages, parsed, more = search_selectors.message_search(
                agent=agent,
                q=q,
                filters=filters,
                kinds=kinds,
                limit=_int_param(request, "limit") or search_selectors.SEARCH_LIMIT,
                before=_int_param(request, "before"),
            )
        contacts = []
        if "contacts" in types and not _int_param(request, "before"):
            contacts = search_selectors.contact_search_text(agent=agent, q=q, filters=filters)
        return Response(
            {
                "query": {
                    "words": [*parsed.words, *([parsed.prefix + "*"] if parsed.prefix else [])],
                    "phrases": parsed.phrases,
                    "excluded": parsed.excluded,
                },
                "messages": [_message_data(m, parsed) for m in messages],
                "next": messages[-1].pk if more and messages else None,
                "contacts": [{"id": c.pk, "name": c.name} for c in contacts],
            }
        )
