"""Full-text search across messages, private notes and contacts (issue 13), scoped to what the
agent may see (the inboxes of the conversation list: apps.reports.permissions).

Query syntax (what people type in a search box): words, all required, in any order; the last
word is also a prefix ("refu" finds "refund") unless the query ends with a space; "a quoted
phrase" must appear as such; -word excludes. Words are letters and digits (any script); the
rest is ignored.

PostgreSQL: `to_tsvector('simple', body) @@ to_tsquery('simple', …)` on the GIN expression indexes
of apps.core.search_vectors, newest first (by id: messages are numbered as they are stored), a
page of `limit` with keyset paging on the id (`before`). The planner picks the GIN index for rare
words and walks the primary key backwards for common ones (stopping after `limit` matches).
SQLite (the embedded default, small desks): the same words as case-insensitive substrings.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.utils import OperationalError

from apps.accounts.models import Agent, Inbox
from apps.contacts.models import Contact, Identity
from apps.conversations.models import Conversation, Message
from apps.core.errors import DomainError, InvalidInput
from apps.core.pg_scans import TRIGRAM, index_scans
from apps.core.search_vectors import FTS_CONFIG, contact_vector, message_vector
from apps.reports.permissions import inbox_ids_visible

SEARCH_MAX_CHARS = 200
SEARCH_LIMIT = 20
SEARCH_MAX_LIMIT = 50
SNIPPET_BEFORE = 60
SNIPPET_CHARS = 200
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
KINDS = ("message", "note")
# Below this share of messages a word is "rare": its matches are read from the GIN index and
# sorted, rather than found by walking the messages newest first (see _rare).
RARE_FREQUENCY = 0.005
STATS_SECONDS = 600
SEARCH_TIMEOUT_MS = 5000
CONTACT_CANDIDATES = 500


class SearchTimeout(DomainError):
    code = "search_timeout"
    status = 503


_stats: dict[str, tuple[float, dict[str, float]]] = {}


def _lexeme_frequencies() -> dict[str, float]:
    """PostgreSQL's sample of the commonest words of the message index (pg_stats of
    message_body_fts_idx: most_common_elems and their frequencies), kept for STATS_SECONDS."""
    cached = _stats.get(connection.alias)
    if cached and time.monotonic() - cached[0] < STATS_SECONDS:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE tablename = 'message_body_fts_idx' LIMIT 1"
        )
        row = cursor.fetchone()
    freqs = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
    _stats[connection.alias] = (time.monotonic(), freqs)
    return freqs


def _rare(parsed: ParsedQuery) -> bool:
    """Whether the query's rarest required word is rare. The planner estimates a word missing
    from its sample at a fixed share (~0.3 % here); for a really rare word (an order number, a
    name) it would then walk all the messages newest first, looking for matches that are not
    there. A word not in the sample is rarer than every word in it: rare."""
    freqs = _lexeme_frequencies()
    if not freqs:
        return True  # not analysed yet (a new or small desk): the index is the safe way
    terms = [freqs.get(w, 0.0) for w in parsed.words] + [freqs.get(w, 0.0) for p in parsed.phrases for w in p]
    if parsed.prefix:
        terms.append(sum(f for w, f in freqs.items() if w.startswith(parsed.prefix)))
    return min(terms) < RARE_FREQUENCY


@dataclass(frozen=True)
class ParsedQuery:
    words: tuple[str, ...]  # all required
    prefix: str | None  # the last word, matched as a prefix
    phrases: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.words or self.prefix or self.phrases)

    def terms(self) -> list[str]:
        """What to highlight."""
        out = list(self.words) + [w for p in self.phrases for w in p]
        return out + ([self.prefix] if self.prefix else [])

    def tsquery(self) -> str:
        """to_tsquery syntax; every lexeme quoted (only word characters reach here)."""
        parts = [f"'{w}'" for w in self.words]
        parts += ["(" + " <-> ".join(f"'{w}'" for w in p) + ")" for p in self.phrases]
        if self.prefix:
            parts.append(f"'{self.prefix}':*")
        parts += [f"!'{w}'" for w in self.excluded]
        return " & ".join(parts)


def parse_query(text: str) -> ParsedQuery:
    if len(text) > SEARCH_MAX_CHARS:
        raise InvalidInput(f"`q` is over {SEARCH_MAX_CHARS} characters", code="invalid_q")
    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    excluded: list[str] = []
    last_bare: int | None = None
    for match in _TOKEN.finditer(text.lower()):
        negative = bool(match.group(1) or match.group(3))
        quoted = match.group(2) is not None
        tokens = _WORD.findall(match.group(2) if quoted else match.group(4))
        if not tokens:
            continue
        if negative:
            excluded.extend(tokens)
        elif quoted or len(tokens) > 1:
            # "invoice-copy" is one phrase of two words, as to_tsvector splits it.
            phrases.append(tuple(tokens)) if len(tokens) > 1 else words.append(tokens[0])
            last_bare = None
        else:
            words.append(tokens[0])
            last_bare = len(words) - 1
    prefix = None
    if last_bare is not None and last_bare == len(words) - 1 and not text.endswith((" ", '"')):
        prefix = words.pop()
    return ParsedQuery(tuple(dict.fromkeys(words)), prefix, tuple(phrases), tuple(dict.fromkeys(excluded)))


@dataclass(frozen=True)
class SearchFilters:
    channel: str | None = None  # an inbox channel (sms, email, widget, …)
    status: str | None = None  # the conversation's
    agent_id: int | None = None  # the conversation's assignee
    start: dt.datetime | None = None  # message created_at >= start
    end: dt.datetime | None = None  # message created_at < end


def _inbox_ids(agent: Agent, filters: SearchFilters) -> list[int]:
    ids = inbox_ids_visible(agent)
    if filters.channel:
        if filters.channel not in Inbox.Channel.values:
            raise InvalidInput(f"unknown channel {filters.channel!r}", code="invalid_channel")
        of_channel = set(Inbox.objects.filter(channel=filters.channel).values_list("id", flat=True))
        ids = [i for i in ids if i in of_channel]
    return ids


def _text_match(parsed: ParsedQuery, field: str) -> Q:
    """SQLite: every word, phrase and prefix as a case-insensitive substring of `field`."""
    match = Q()
    for term in [*parsed.words, *(" ".join(p) for p in parsed.phrases), *([parsed.prefix] if parsed.prefix else [])]:
        match &= Q(**{f"{field}__icontains": term})
    for term in parsed.excluded:
        match &= ~Q(**{f"{field}__icontains": term})
    return match


def _conversation_filter(qs: QuerySet[Message], filters: SearchFilters) -> QuerySet[Message]:
    """The status and assignee filters, on the messages' conversations.

    On PostgreSQL as `(conversation_id IN (SELECT id …)) IS TRUE`: wrapped so that the planner
    keeps it a hashed subplan (the conversations' ids from an index-only scan of the status or
    assignee keyset index) tested on each walked message before its tsvector is computed, where
    the join it would make of a bare IN computes the tsvector of every message walked first
    (2-3x slower with status=open). Not for status=resolved alone (most of the desk: nothing to
    gain, a big hash to build). Visibility stays the message's own inbox_id filter."""
    if connection.vendor == "postgresql" and (filters.agent_id or filters.status != Conversation.Status.RESOLVED):
        conversations = Conversation.objects.all()
        if filters.status:
            conversations = conversations.filter(status=filters.status)
        if filters.agent_id:
            conversations = conversations.filter(assignee_id=filters.agent_id)
        sql, params = conversations.values("id").query.sql_with_params()
        return qs.extra(where=[f'("conversations_message"."conversation_id" IN ({sql})) IS TRUE'], params=list(params))
    if filters.status:
        qs = qs.filter(conversation__status=filters.status)
    if filters.agent_id:
        qs = qs.filter(conversation__assignee_id=filters.agent_id)
    return qs


def message_search(
    *,
    agent: Agent,
    q: str,
    filters: SearchFilters = SearchFilters(),
    kinds: tuple[str, ...] = KINDS,
    limit: int = SEARCH_LIMIT,
    before: int | None = None,
) -> tuple[list[Message], ParsedQuery, bool]:
    """Messages and notes the agent may see matching `q`, newest first: (page, parsed query,
    whether there are more)."""
    parsed = parse_query(q)
    if parsed.empty:
        return [], parsed, False
    if filters.status and filters.status not in Conversation.Status.values:
        raise InvalidInput(f"unknown status {filters.status!r}", code="invalid_status")
    limit = max(1, min(limit, SEARCH_MAX_LIMIT))
    inbox_ids = _inbox_ids(agent, filters)
    if not inbox_ids:
        return [], parsed, False
    qs: QuerySet[Message] = Message.objects.filter(inbox_id__in=inbox_ids, kind__in=kinds)
    if connection.vendor == "postgresql":
        query = SearchQuery(parsed.tsquery(), config=FTS_CONFIG, search_type="raw")
        qs = qs.alias(document=message_vector()).filter(document=query)
    else:
        qs = qs.filter(_text_match(parsed, "body"))
    if filters.status or filters.agent_id:
        qs = _conversation_filter(qs, filters)
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    if before:
        qs = qs.filter(id__lt=before)
    if connection.vendor != "postgresql":
        ids = list(qs.order_by("-id").values_list("id", flat=True)[: limit + 1])
    else:
        # A rare word: order by an expression (id + 0) so that the primary key cannot serve the
        # order and the GIN index is read (see _rare); a common one: newest first by the key.
        order = (F("id") + 0).desc() if _rare(parsed) else F("id").desc()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(SEARCH_TIMEOUT_MS)}")
                ids = list(qs.order_by(order).values_list("id", flat=True)[: limit + 1])
        except OperationalError as exc:
            if "statement timeout" in str(exc):
                raise SearchTimeout("the search took too long; add a word or a filter") from exc
            raise
    found = Message.objects.filter(pk__in=ids[:limit]).select_related(
        "conversation", "conversation__contact", "conversation__inbox", "sender"
    )
    return sorted(found, key=lambda m: -m.pk), parsed, len(ids) > limit


def contact_search_text(
    *, agent: Agent, q: str, filters: SearchFilters = SearchFilters(), limit: int = SEARCH_LIMIT
) -> list[Contact]:
    """Contacts with a conversation the agent may see (narrowed by channel, status and agent)
    whose name or notes match `q`, or one of whose addresses contains it; by name."""
    parsed = parse_query(q)
    if parsed.empty:
        return []
    inbox_ids = _inbox_ids(agent, filters)
    if not inbox_ids:
        return []
    visible = Conversation.objects.filter(contact_id=OuterRef("pk"), inbox_id__in=inbox_ids)
    if filters.status:
        visible = visible.filter(status=filters.status)
    if filters.agent_id:
        visible = visible.filter(assignee_id=filters.agent_id)
    base = Contact.objects.filter(merged_into__isnull=True)
    by_text: QuerySet[Any]
    if connection.vendor == "postgresql":
        query = SearchQuery(parsed.tsquery(), config=FTS_CONFIG, search_type="raw")
        by_text = base.alias(document=contact_vector()).filter(document=query)
    else:
        by_text = base.filter(_text_match(parsed, "name") | _text_match(parsed, "notes"))
    # The first CONTACT_CANDIDATES matches the index gives (no order: a bitmap scan that stops),
    # then the visible ones by name. Ordering the matches by name instead lets the planner walk
    # every contact in name order testing each, for a word no contact has.
    # All from the indexes, not from a sequential scan's first ones (apps.core.pg_scans).
    address = q.strip()
    with index_scans():
        candidates = list(by_text.values_list("id", flat=True)[:CONTACT_CANDIDATES])
        found = list(base.filter(pk__in=candidates).filter(Exists(visible)).order_by("name", "id")[:limit])
        if len(address) >= TRIGRAM and not parsed.excluded:  # an address typed in part: trigram-indexed
            by_address = Identity.objects.filter(address__icontains=address).values("contact_id")[:200]
            found += list(base.filter(pk__in=by_address).filter(Exists(visible)).order_by("name", "id")[:limit])
    unique = {c.pk: c for c in found}
    return sorted(unique.values(), key=lambda c: (c.name.lower(), c.pk))[:limit]


def snippet(body: str, parsed: ParsedQuery) -> dict[str, Any]:
    """A window of `body` around the first match, and the [start, end) of every match in it."""
    terms = [t for t in parsed.terms() if t]
    if not terms:
        return {"text": body[:SNIPPET_CHARS], "highlights": []}
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\w*",
        re.IGNORECASE | re.UNICODE,
    )
    if connection.vendor != "postgresql":  # substrings, as the SQLite search matched them
        pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    first = pattern.search(body)
    start = 0
    if first and first.start() > SNIPPET_BEFORE:
        start = body.rfind(" ", 0, first.start() - SNIPPET_BEFORE) + 1 or first.start() - SNIPPET_BEFORE
    text = body[start : start + SNIPPET_CHARS]
    highlights = [[m.start(), m.end()] for m in pattern.finditer(text)]
    return {
        "text": ("…" if start else "") + text + ("…" if start + SNIPPET_CHARS < len(body) else ""),
        "highlights": [[a + (1 if start else 0), b + (1 if start else 0)] for a, b in highlights],
    }
