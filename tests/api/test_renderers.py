"""FastJSONRenderer writes the bytes DRF's JSONRenderer writes (apps/api/renderers.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from apps.api.renderers import FastJSONRenderer
from tests.factories import ConversationFactory

DOCUMENTS = [
    {"results": [], "next": None},
    {
        "utc": dt.datetime(2026, 12, 6, 10, 11, 12, 123456, tzinfo=dt.UTC),
        "utc_whole_second": dt.datetime(2026, 12, 6, 10, 11, 12, tzinfo=dt.UTC),
        "zoneinfo_utc": dt.datetime(2026, 12, 6, 10, 11, 12, 5, tzinfo=ZoneInfo("UTC")),
        "paris": dt.datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris")),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5, 600000),
        "date": dt.date(2026, 2, 28),
        "time": dt.time(23, 59, 59, 1),
        "decimal": decimal.Decimal("12.50"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("not found"),
    },
    {"text": 'Zoë, 東京, emoji 🎉, quote " backslash \\ tab \t newline \n nul \x00', "n": -(2**63), "f": 1.5},
    {"separators": "line\u2028paragraph\u2029end", "nested": [{"a": [1, 2, {"b": None}]}, True, False]},
    {"big": 2**64},  # over 64 bits: orjson refuses, DRF's renderer writes it
    {1: "a key that is not a string"},
    [1, "two", 3.0],
]


@pytest.mark.parametrize("data", DOCUMENTS)
def test_same_bytes_as_drfs_renderer(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_an_indent_asked_for_is_drfs_output():
    data = {"a": [1, {"b": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}]}
    media = "application/json; indent=2"
    assert FastJSONRenderer().render(data, media) == JSONRenderer().render(data, media)
    assert b"\n" in FastJSONRenderer().render(data, media)


def test_no_data_is_an_empty_body():
    assert FastJSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_the_conversation_list_answers_application_json(api, agent, sms_inbox):
    ConversationFactory(inbox=sms_inbox)
    response = api.get("/api/v1/conversations")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(response.json())
