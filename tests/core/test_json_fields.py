"""FastJSONField reads what Django's JSONField reads (apps/core/json_fields.py)."""

from __future__ import annotations

import json

import pytest
from django.db import connection, models

from apps.bus.models import Event
from apps.core.json_fields import FastJSONField

pytestmark = pytest.mark.django_db

VALUES = [
    {},
    {"body": "plain", "n": 1, "ok": True, "none": None, "list": [1, 2.5, "x"]},
    {"body": 'ünïcödé 😀 \u2028 \u2029 "quoted" \\ back', "nested": {"a": [{"b": {}}]}},
    {"floats": [0.1, -2.5e-300, 123456.789, 3.0, 1.7976931348623157e-5]},
    {"ints": [2**63 - 1, -(2**63), 2**64 - 1]},
    {"big": 2**70, "bigger": -(10**30), "in_text": "12345678901234567890123"},  # exact, not floats
    [1, "list at the top"],
    "a bare string",
    42,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_stored_value_reads_back_as_django_reads_it(value):
    event = Event.objects.create(type="test.value", data=value)
    fast = Event.objects.values_list("data", flat=True).get(pk=event.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM bus_event WHERE id = %s", [event.pk])
        text = cursor.fetchone()[0]
    stored = text if isinstance(text, str) else json.dumps(text)
    assert fast == json.loads(stored)  # what Django reads
    assert fast == value
    assert type(fast) is type(value)
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(fast[key]) is type(item), key  # a big integer stays an int


def test_a_long_number_is_read_by_django():
    # PostgreSQL writes a jsonb number as it stores it: 1e300 comes back as 301 digits, which
    # Django reads as an integer; orjson would read a float.
    field = FastJSONField()
    text = '{"n": 1' + "0" * 300 + "}"
    assert field.from_db_value(text, None, connection) == json.loads(text) == {"n": 10**300}


def test_text_orjson_refuses_is_read_by_django():
    field = FastJSONField()
    lone_surrogate = '{"body": "\\ud800 alone"}'
    assert field.from_db_value(lone_surrogate, None, connection) == json.loads(lone_surrogate)
    assert field.from_db_value("not json", None, connection) == "not json"  # as Django leaves it
    assert field.from_db_value(None, None, connection) is None


def test_a_custom_decoder_is_used():
    class Tagged(json.JSONDecoder):
        def __init__(self, **kwargs):
            super().__init__(object_hook=lambda d: {**d, "tagged": True}, **kwargs)

    field = FastJSONField(decoder=Tagged)
    assert field.from_db_value('{"a": 1}', None, connection) == {"a": 1, "tagged": True}


def test_migrations_see_djangos_field():
    name, path, args, kwargs = Event._meta.get_field("data").deconstruct()
    assert (name, path, kwargs) == ("data", "django.db.models.JSONField", {"default": dict})
    assert isinstance(Event._meta.get_field("data"), models.JSONField)


def test_a_list_pages_last_message_is_read_by_the_same_rule():
    from apps.conversations.models import Conversation

    field = Conversation._meta.get_field("last_message")
    assert isinstance(field, FastJSONField)
    assert field.deconstruct()[1] == "django.db.models.JSONField"
    converter = field.from_db_value
    long_number = '{"n": 123456789012345678901234567890, "ok": [1, 2.5]}'
    assert converter(long_number, None, connection) == json.loads(long_number)
    assert type(converter(long_number, None, connection)["n"]) is int
    assert converter('{"a": "\\ud800"}', None, connection) == json.loads('{"a": "\\ud800"}')
    assert converter(None, None, connection) is None
