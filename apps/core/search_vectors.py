"""The full-text expressions of the search (issue 13), defined once: the GIN indexes of the
migrations and the queries of apps.reports.search must spell them identically, or PostgreSQL
will not use the index.

'simple' configuration: lower-cased words, no stemming and no stop words. A desk's messages are
in many languages, often mixed in one conversation; a language's stemmer mangles the others'
words, and per-message language detection would be a guess. The search adds prefix matching on
the last word typed instead (see apps.reports.search).
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db.models import F, Func

FTS_CONFIG = "simple"


def message_vector() -> Func:
    """to_tsvector('simple', body) of conversations_message (messages and private notes)."""
    return Func(
        F("body"),
        template=f"to_tsvector('{FTS_CONFIG}'::regconfig, %(expressions)s)",
        output_field=SearchVectorField(),
    )


def contact_vector() -> Func:
    """to_tsvector('simple', name || ' ' || notes) of contacts_contact."""
    return Func(
        F("name"),
        F("notes"),
        template=f"to_tsvector('{FTS_CONFIG}'::regconfig, %(expressions)s)",
        arg_joiner=" || ' ' || ",
        output_field=SearchVectorField(),
    )
