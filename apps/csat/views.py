"""The one-question page an email or widget survey links to (no sign-in: the token is the key)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.core.errors import InvalidInput, NotFound
from apps.csat.models import Survey
from apps.csat.services import survey_answer

RATINGS = [(1, "Very poor"), (2, "Poor"), (3, "OK"), (4, "Good"), (5, "Great")]


@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    survey = Survey.objects.filter(token=token).exclude(status=Survey.Status.SKIPPED).first()
    if survey is None:
        raise Http404("no such survey")
    error = ""
    preset = request.GET.get("rating", "")
    if request.method == "POST":
        try:
            survey = survey_answer(
                token=token, rating=request.POST.get("rating"), comment=request.POST.get("comment", "")[:2000]
            )
        except InvalidInput as exc:
            error = exc.message
        except NotFound:
            raise Http404("no such survey") from None
    return render(
        request,
        "csat/survey.html",
        {"survey": survey, "ratings": RATINGS, "error": error, "preset": preset},
        status=400 if error else 200,
    )
