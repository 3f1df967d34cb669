"""The hot reads' JSON written by orjson (issue 14): the same bytes as DRF's JSONRenderer.

DRF's renderer runs the standard library's encoder (in Python for a list page's ~50 nested
dicts) and then two `str.replace` passes over the text; orjson writes the same document in C.
What could differ is kept DRF's:
- datetimes, dates and times (and dataclasses) go to DRF's encoder's `default` (ISO 8601,
  "+00:00" written "Z"), not orjson's own format;
- U+2028 and U+2029 are escaped, as DRF does (JSON that is also JavaScript);
- compact separators, UTF-8 rather than \\u escapes (DRF's COMPACT_JSON and UNICODE_JSON
  defaults, which this project keeps);
- anything orjson refuses (a key that is not a string, an integer over 64 bits, a type neither
  knows) and an `indent` asked for in the Accept header are rendered by DRF's renderer itself.
One difference is left: a float NaN or infinity, which DRF refuses (STRICT_JSON) and orjson
writes as null; these views write no floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LINE_SEPARATOR = "\u2028".encode()
_PARAGRAPH_SEPARATOR = "\u2029".encode()
_default = JSONEncoder().default


class FastJSONRenderer(JSONRenderer):
    """JSONRenderer's output (application/json), written by orjson."""

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        if indent or not self.compact or self.ensure_ascii:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in out or _PARAGRAPH_SEPARATOR in out:
            out = out.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return out


# The views that use it keep the other renderers DRF would offer (the browsable API).
FAST_RENDERERS: list[type[BaseRenderer]] = [
    FastJSONRenderer,
    *(cast(type[BaseRenderer], r) for r in api_settings.DEFAULT_RENDERER_CLASSES if r is not JSONRenderer),
]
