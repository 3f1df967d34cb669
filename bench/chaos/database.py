"""What the runner reads from the database: pending work while it runs, the outcome after it.

Plain SQL on the private database, so the runner needs no Django setup and survives the
server's restarts (a new connection for each read). This is the only module of bench/chaos
that knows the bus's tables: when they move, change the queries here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

INBOUND_PREFIX = "CHAOS-I"
REPLY_PREFIX = "CHAOS-R"


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=3, autocommit=True)


def oldest_pending_work(url: str) -> float | None:
    """The creation time (epoch) of the oldest work item not done yet, or None: nothing pending.

    Work is an inbound journal entry waiting to be processed, or an outbox entry waiting to be
    sent (in backoff or leased included). Raises when the database cannot be read.
    """
    with _connect(url) as conn:
        row = conn.execute(
            """
            SELECT least(
                (SELECT extract(epoch FROM min(received_at)) FROM bus_inboundentry WHERE state = 'pending'),
                (SELECT extract(epoch FROM min(created_at)) FROM bus_outboxentry WHERE state = 'pending'))
            """
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def event_position(url: str) -> int:
    with _connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM bus_event").fetchone()
    return int(row[0]) if row else 0


@dataclass
class Outcome:
    inbound_by_sid: dict[str, int] = field(default_factory=dict)  # MessageSid -> messages stored
    inbound_by_token: dict[str, int] = field(default_factory=dict)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # client_id -> its messages
    replies_by_token: dict[str, int] = field(default_factory=dict)
    journal: dict[str, int] = field(default_factory=dict)  # state -> entries
    outbox: dict[str, int] = field(default_factory=dict)  # state -> entries
    outbox_leased: int = 0  # pending and held by a lease that has not run out
    outbox_overdue: int = 0  # pending, due more than a minute ago, not leased
    receipts_unapplied: int = 0  # status callbacks recorded, not applied to a message that has the sid


def outcome(url: str) -> Outcome:
    result = Outcome()
    with _connect(url) as conn:
        for sid, body, count in conn.execute(
            """SELECT provider_id, min(body), count(*) FROM conversations_message
                WHERE direction = 'in' AND body LIKE %s GROUP BY provider_id""",
            [INBOUND_PREFIX + "%"],
        ):
            result.inbound_by_sid[sid] = count
            token = body.split(" ", 1)[0]
            result.inbound_by_token[token] = result.inbound_by_token.get(token, 0) + count
        for message_id, client_id, body, status, provider_id, error_code in conn.execute(
            """SELECT id, client_id, body, status, provider_id, error_code FROM conversations_message
                WHERE direction = 'out' AND body LIKE %s ORDER BY id""",
            [REPLY_PREFIX + "%"],
        ):
            result.replies.setdefault(client_id or "", []).append(
                {"id": message_id, "status": status, "provider_id": provider_id, "error_code": error_code}
            )
            token = body.split(" ", 1)[0]
            result.replies_by_token[token] = result.replies_by_token.get(token, 0) + 1
        result.journal = dict(conn.execute("SELECT state, count(*) FROM bus_inboundentry GROUP BY state").fetchall())
        result.outbox = dict(conn.execute("SELECT state, count(*) FROM bus_outboxentry GROUP BY state").fetchall())
        leased, overdue = conn.execute(
            """SELECT count(*) FILTER (WHERE lease_until > now()),
                      count(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= now())
                                         AND next_attempt_at < now() - interval '60 seconds')
                 FROM bus_outboxentry WHERE state = 'pending'"""
        ).fetchone() or (0, 0)
        result.outbox_leased, result.outbox_overdue = leased, overdue
        row = conn.execute(
            """SELECT count(*) FROM bus_statusreceipt r
                WHERE NOT r.applied
                  AND EXISTS (SELECT 1 FROM conversations_message m WHERE m.provider_id = r.provider_message_id)"""
        ).fetchone()
        result.receipts_unapplied = row[0] if row else 0
    return result
