from __future__ import annotations

import math
import time
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.models import Agent
from apps.console.hooks_pages import admin_links
from apps.reports.permissions import can_see_reports


@login_required
def console(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/console.html",
        {"agent": request.user, "can_see_reports": can_see_reports(request.user), **admin_links(request.user)},
    )


@login_required
def triage(request: HttpRequest) -> HttpResponse:
    """Triage settings: the rules (administrators edit them) and the learned model's status."""
    agent = request.user
    admin = getattr(agent, "role", "") == "admin" or agent.is_superuser
    return render(request, "console/triage.html", {"agent": agent, "admin": admin})


@login_required
def routing(request: HttpRequest) -> HttpResponse:
    """Routing rules, skills and strategies (apps/console/static/console/routing-admin.js):
    administrators manage them; the API refuses anyone else's changes as well."""
    if getattr(request.user, "role", None) != Agent.Role.ADMIN:
        return render(request, "console/routing_forbidden.html", {"agent": request.user}, status=403)
    return render(request, "console/routing.html", {"agent": request.user})


@login_required
def console_settings(request: HttpRequest) -> HttpResponse:
    """SLA policies, business hours, holidays, escalations and macros (admins change them; the
    API enforces it, the page only hides the buttons)."""
    return render(request, "console/settings.html", {"agent": request.user})


@login_required
def reports(request: HttpRequest) -> HttpResponse:
    """The reports page (supervisors and admins: apps.reports.permissions)."""
    if not can_see_reports(request.user):
        return render(request, "console/reports_forbidden.html", status=403)
    return render(request, "console/reports.html", {"agent": request.user})


# Failed sign-ins are counted per username and per client address in the cache, over a window
# that starts at the first failure. Past a limit, attempts are refused without checking the
# password, so guessing costs the same whether or not the password is right.
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_MAX_FAILURES_PER_USERNAME = 5
LOGIN_MAX_FAILURES_PER_ADDRESS = 20


def _username_key(username: str) -> str:
    return "login-failures:user:" + username.strip().lower()[:150]


def _address_key(address: str) -> str:
    return "login-failures:ip:" + address


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _record_failure(key: str) -> None:
    now = time.time()
    cache.add(key + ":since", now, LOGIN_WINDOW_SECONDS)
    if not cache.add(key, 1, LOGIN_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, LOGIN_WINDOW_SECONDS)


def _minutes_left(key: str) -> int:
    since = cache.get(key + ":since")
    seconds = LOGIN_WINDOW_SECONDS if since is None else since + LOGIN_WINDOW_SECONDS - time.time()
    return max(1, math.ceil(seconds / 60))


class ThrottledLoginView(auth_views.LoginView):
    """Django's login, refusing further attempts after repeated failures (HTTP 429).

    The template gets `throttled_message` when attempts are refused.
    """

    template_name = "console/login.html"

    def _keys(self) -> tuple[str, str]:
        username = self.request.POST.get("username", "")
        address = self.request.META.get("REMOTE_ADDR", "") or "unknown"
        return _username_key(username), _address_key(address)

    def _throttled_key(self) -> str | None:
        user_key, address_key = self._keys()
        if _count(user_key) >= LOGIN_MAX_FAILURES_PER_USERNAME:
            return user_key
        if _count(address_key) >= LOGIN_MAX_FAILURES_PER_ADDRESS:
            return address_key
        return None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = self._throttled_key()
        if key is not None:
            minutes = _minutes_left(key)
            message = f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
            context = self.get_context_data(
                form=self.get_form_class()(request, initial={"username": request.POST.get("username", "")}),
                throttled_message=message,
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        cache.delete_many([self._keys()[0], self._keys()[0] + ":since"])
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        for key in self._keys():
            _record_failure(key)
        return super().form_invalid(form)
