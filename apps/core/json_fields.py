"""A JSONField whose values are decoded by orjson when read (issue 14).

Django decodes every JSONField value it reads with the standard library's `json.loads`. A
page of the event log (`GET /api/v1/events`, a socket's catch-up: up to 500 events) spent
about a tenth of its CPU there. `FastJSONField` reads the same values with `orjson.loads`,
about five times faster, and falls back to Django's own decoding wherever the two could
differ (`orjson_loads`). Event.data and Conversation.last_message (on every row of a list page,
which apps.api.selectors reads through the field's own converter) are such fields:
- a number of 20 digits or more (orjson reads an integer over 64 bits as a float, the standard
  library exactly);
- text orjson refuses (a lone surrogate escape, which the standard library accepts);
- a field with a custom `decoder`.
Writing is Django's. The field deconstructs as `django.db.models.JSONField`: it stores the same
column, so migrations see no change and historical models use Django's field.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.db import models
from django.db.models.fields.json import KeyTransform

_LONG_NUMBER = re.compile(r"\d{20}")
# What orjson_loads answers when the text is Django's to decode.
NOT_DECODED: Any = object()


def orjson_loads(value: str) -> Any:
    """`value` decoded by orjson, or NOT_DECODED where orjson and the standard library could
    disagree (a number of 20 digits or more, text orjson refuses)."""
    if _LONG_NUMBER.search(value):
        return NOT_DECODED
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return NOT_DECODED


class FastJSONField(models.JSONField):
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if self.decoder is None and isinstance(value, str) and not isinstance(expression, KeyTransform):
            decoded = orjson_loads(value)
            if decoded is not NOT_DECODED:
                return decoded
        return super().from_db_value(value, expression, connection)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
