"""Reads behind the API, scoped to what the agent may see (their inboxes)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from apps.accounts.models import Agent, Inbox, Team
from apps.contacts.models import Contact, ContactMerge, Identity
from apps.conversations.models import CannedResponse, Conversation, Label, Message, ReadMarker
from apps.core.errors import InvalidInput


def conversations_visible(*, agent: Agent) -> QuerySet[Conversation]:
    return Conversation.objects.filter(inbox__members=agent)


def _unread_subquery(agent: Agent) -> Subquery:
    """The customer's messages after the agent's read marker, for the outer conversation row:
    one correlated subquery over the (conversation, seq) unique index — no per-row round trip."""
    last_read = ReadMarker.objects.filter(agent_id=agent.pk, conversation_id=OuterRef(OuterRef("pk"))).values(
        "last_read_seq"
    )[:1]
    unread = (
        Message.objects.filter(
            conversation_id=OuterRef("pk"),
            direction=Message.Direction.INBOUND,
            kind=Message.Kind.MESSAGE,
            seq__gt=Coalesce(Subquery(last_read), Value(0)),
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Subquery(unread, output_field=IntegerField())


def conversation_items(*, agent: Agent) -> QuerySet[Conversation]:
    """Visible conversations as the console shows them, with `unread` for this agent.

    Call `conversation_items_prefetch` on the rows for identities and labels.
    """
    return (
        conversations_visible(agent=agent)
        .select_related("contact")
        .annotate(unread=Coalesce(_unread_subquery(agent), Value(0)))
    )


def unread_totals(*, agent: Agent) -> dict[str, int]:
    """What waits for this agent: unread customer messages in open (not resolved) conversations
    assigned to them or to nobody, and in how many conversations. One query."""
    totals = (
        conversations_visible(agent=agent)
        .exclude(status=Conversation.Status.RESOLVED)
        .filter(Q(assignee=agent) | Q(assignee__isnull=True))
        .annotate(unread=Coalesce(_unread_subquery(agent), Value(0)))
        .aggregate(messages=Sum("unread"), conversations=Count("pk", filter=Q(unread__gt=0)))
    )
    return {"messages": totals["messages"] or 0, "conversations": totals["conversations"] or 0}


def conversation_items_prefetch(rows: list[Conversation]) -> list[Conversation]:
    """Two queries for any number of rows: the contacts' identities, and the labels."""
    prefetch_related_objects(rows, "contact__identities", "labels")
    return rows


def conversation_item(*, agent: Agent, conversation_id: int) -> Conversation | None:
    row = conversation_items(agent=agent).filter(pk=conversation_id).first()
    return conversation_items_prefetch([row])[0] if row else None


# --- the conversation list ----------------------------------------------------------------

VIEWS = ("all", "mine", "unassigned")
SORTS = ("recent", "waiting")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Cursor phases: "" = recent sort; "w" = waiting sort, among the waiting ones;
# "a" = waiting sort, among the rest (by activity).
_WAITING, _ACTIVITY = "w", "a"


@dataclass(frozen=True)
class Cursor:
    phase: str
    at: dt.datetime
    pk: int

    def encode(self) -> str:
        """URL-safe as it is: phase letter, microseconds since the epoch, `_`, the id."""
        return f"{self.phase}{(self.at - _EPOCH) // dt.timedelta(microseconds=1)}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        phase = text[:1] if text[:1] in (_WAITING, _ACTIVITY) else ""
        at_text, _, pk_text = text[len(phase) :].rpartition("_")
        if not at_text.isdigit() or not pk_text.isdigit():
            raise InvalidInput("`before` is not a cursor this API gave", code="invalid_cursor")
        try:
            return cls(phase, _EPOCH + dt.timedelta(microseconds=int(at_text)), int(pk_text))
        except OverflowError:
            raise InvalidInput("`before` is not a cursor this API gave", code="invalid_cursor") from None


def _channel_filter(channel: str) -> Q:
    if channel in Identity.Kind.values:  # phone, whatsapp, email, widget, telegram, xmpp
        return Q(last_identity__kind=channel)
    if channel in Inbox.Channel.values:  # sms: the Twilio inbox, whichever of its channels
        return Q(inbox__channel=channel)
    choices = sorted(set(Identity.Kind.values) | set(Inbox.Channel.values))
    raise InvalidInput(f"unknown channel {channel!r}; use one of {', '.join(choices)}", code="invalid_channel")


def conversation_list(
    *,
    agent: Agent,
    view: str = "all",
    status: str | None = None,
    channel: str | None = None,
    inbox_id: int | None = None,
    assignee: str | None = None,
    sort: str = "recent",
    before: str | None = None,
    limit: int = 50,
) -> tuple[list[Conversation], str | None]:
    """One page of the console list and the cursor of the next (None on the last page).

    sort=recent: newest activity first, keyset on (last_activity_at, id).
    sort=waiting: longest-waiting first, keyset on (waiting_since, id); then the conversations
    nobody waits on, newest activity first. Each part is one index-ordered query, so a page
    costs at most two queries plus the two prefetches, however long the history is.
    """
    qs = conversation_items(agent=agent)
    if view == "mine":
        qs = qs.filter(assignee=agent)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif view.startswith("team:") and view[5:].isdigit():
        qs = qs.filter(team_id=int(view[5:]))
    elif view != "all":
        raise InvalidInput("`view` must be mine, unassigned, all or team:<id>", code="invalid_view")
    if status:
        if status not in Conversation.Status.values:
            raise InvalidInput(f"unknown status {status!r}", code="invalid_status")
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(_channel_filter(channel))
    if inbox_id:
        qs = qs.filter(inbox_id=inbox_id)
    if assignee == "me":
        qs = qs.filter(assignee=agent)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee and assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if sort not in SORTS:
        raise InvalidInput("`sort` must be waiting or recent", code="invalid_sort")
    cursor = Cursor.parse(before) if before else None
    if cursor and (cursor.phase == "") != (sort == "recent"):
        raise InvalidInput("`before` is a cursor of another sort order", code="invalid_cursor")

    by_activity = qs.order_by("-last_activity_at", "-id")
    if cursor and cursor.phase in ("", _ACTIVITY):
        by_activity = by_activity.filter(
            Q(last_activity_at__lt=cursor.at) | Q(last_activity_at=cursor.at, id__lt=cursor.pk)
        )
    rows: list[Conversation] = []
    if sort == "waiting":
        by_activity = by_activity.filter(waiting_since__isnull=True)
        if cursor is None or cursor.phase == _WAITING:
            waiting = qs.filter(waiting_since__isnull=False).order_by("waiting_since", "id")
            if cursor:
                waiting = waiting.filter(Q(waiting_since__gt=cursor.at) | Q(waiting_since=cursor.at, id__gt=cursor.pk))
            rows = list(waiting[: limit + 1])
    if len(rows) <= limit:
        rows += list(by_activity[: limit + 1 - len(rows)])
    more = len(rows) > limit
    rows = conversation_items_prefetch(rows[:limit])
    if not more or not rows:
        return rows, None
    last = rows[-1]
    if sort == "recent":
        return rows, Cursor("", last.last_activity_at, last.pk).encode()
    if last.waiting_since is not None:
        return rows, Cursor(_WAITING, last.waiting_since, last.pk).encode()
    return rows, Cursor(_ACTIVITY, last.last_activity_at, last.pk).encode()


# --- contacts -----------------------------------------------------------------------------


def contacts_visible(*, agent: Agent) -> QuerySet[Contact]:
    return Contact.objects.filter(conversations__inbox__members=agent).distinct()


SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 20
_PHONE_LIKE = re.compile(r"[\d\s().+-]+")


def contact_search(*, agent: Agent, q: str, limit: int = SEARCH_LIMIT) -> list[Contact]:
    """Contacts the agent can see whose name or an identity's address contains `q`.

    A phone number typed with spaces, dashes, dots or brackets is matched by its digits
    ("415 555-0202" finds +14155550202). Merged contacts are left out. Two queries whatever
    the number of matches: the contacts, and their identities.
    """
    q = q.strip()
    if len(q) < SEARCH_MIN_CHARS:
        raise InvalidInput(f"`q` needs at least {SEARCH_MIN_CHARS} characters", code="invalid_q")
    identity_text = Q(address__icontains=q) | Q(display__icontains=q)
    if _PHONE_LIKE.fullmatch(q):
        digits = re.sub(r"\D", "", q)
        if len(digits) >= SEARCH_MIN_CHARS:
            identity_text |= Q(address__contains=digits)
    visible = Conversation.objects.filter(inbox__members=agent).values("contact_id")
    rows = (
        Contact.objects.filter(merged_into__isnull=True, pk__in=visible)
        .filter(Q(name__icontains=q) | Q(pk__in=Identity.objects.filter(identity_text).values("contact_id")))
        .order_by("name", "id")[:limit]
    )
    contacts = list(rows)
    prefetch_related_objects(contacts, "identities")
    return contacts


def contact_conversations(*, agent: Agent, contact_id: int, limit: int = 100) -> list[Conversation]:
    rows = conversation_items(agent=agent).filter(contact_id=contact_id).order_by("-last_activity_at", "-id")
    return conversation_items_prefetch(list(rows[:limit]))


def contact_merge_visible(*, agent: Agent, merge_id: int) -> ContactMerge | None:
    """A merge the agent may undo: its surviving contact is one they can see."""
    return ContactMerge.objects.filter(pk=merge_id, survivor__in=contacts_visible(agent=agent)).first()


def contact_timeline(*, agent: Agent, contact_id: int, after: int | None = None, limit: int = 200) -> list[Message]:
    """Every message of the contact across conversations and channels, oldest first.

    Keyset-paginated: `after` is the id of the last message of the previous page.
    """
    qs = Message.objects.filter(conversation__contact_id=contact_id, conversation__inbox__members=agent)
    if after:
        anchor = Message.objects.filter(pk=after).values_list("created_at", flat=True).first()
        if anchor is not None:
            qs = qs.filter(Q(created_at__gt=anchor) | Q(created_at=anchor, id__gt=after))
    return list(qs.prefetch_related("attachments").order_by("created_at", "id")[:limit])


# --- agents, labels, canned responses ------------------------------------------------------


def agent_me(*, agent: Agent) -> Agent:
    """The agent with their presence, inboxes and teams loaded."""

    return (
        Agent.objects.select_related("presence")
        .prefetch_related(
            Prefetch("inboxes", queryset=Inbox.objects.order_by("id")),
            Prefetch("teams", queryset=Team.objects.order_by("id")),
        )
        .get(pk=agent.pk)
    )


def label_list() -> QuerySet[Label]:
    return Label.objects.order_by("name")


def canned_response_list(*, q: str | None = None) -> QuerySet[CannedResponse]:
    qs = CannedResponse.objects.order_by("shortcut")
    if q:
        q = q.strip().lstrip("/")
        qs = qs.filter(Q(shortcut__istartswith=q) | Q(shortcut__icontains=q) | Q(title__icontains=q))
    return qs
