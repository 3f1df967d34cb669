"""The console's admin pages for outgoing webhooks and status broadcasts (issue 13).

Each page is a template plus an ES module that works through the REST API; the same
permission functions as the API decide who may open them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render

from apps.broadcasts.permissions import may_broadcast
from apps.webhooks.services import may_manage_webhooks


def _forbidden(what: str) -> HttpResponse:
    return HttpResponseForbidden(f"Only an admin can manage {what}.", content_type="text/plain")


@login_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    if not may_manage_webhooks(request.user):
        return _forbidden("webhooks")
    return render(request, "console/webhooks.html", {"agent": request.user, "page": "webhooks"})


@login_required
def broadcasts_page(request: HttpRequest) -> HttpResponse:
    if not may_broadcast(request.user):
        return _forbidden("status broadcasts")
    return render(request, "console/broadcasts.html", {"agent": request.user, "page": "broadcasts"})


def admin_links(agent: object) -> dict[str, bool]:
    """Which admin pages the console's top bar links to, for this agent."""
    return {"may_broadcast": may_broadcast(agent), "may_manage_webhooks": may_manage_webhooks(agent)}
