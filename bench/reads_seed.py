"""Seed a years-old desk into its own PostgreSQL database, for bench/reads.py (issue 14).

    .venv/bin/python bench/reads_seed.py                 # 1,000,000 conversations, 10M messages
    .venv/bin/python bench/reads_seed.py --scale 0.01    # 10,000 conversations: a quick run
    .venv/bin/python bench/reads_seed.py --drop          # drop the database and stop
    .venv/bin/python bench/reads_seed.py --database supportdesk_reports --variety   # issue 13's shape

--variety (reports and search, bench/reports.py) gives the same volume a desk's variety: three
inboxes (SMS, email, web chat) and three teams taken in turn, message bodies drawn from a
multilingual vocabulary with a skewed (Zipf-like) word frequency plus an order number ("order
#123456"), a private note as seq 6 of every 10th conversation, and answer gaps from 30 s to
18 min per conversation (first-response times spread, not one value).

The database (`supportdesk_reads`, --database) is DROPPED and recreated on the server of --pg
(default postgres://postgres@localhost:5432, trust auth); nothing else is touched. The schema is
the project's (`manage.py migrate`), the rows are written by `INSERT … SELECT generate_series`,
so every run of the same --scale writes the same rows (ids, names, addresses, times relative to
the run's `now`). At scale 1:

- 600,000 contacts, each with a phone identity (+1 415/628/510 …, E.164) and an email identity
  (first.last.N@example.com): 1.2M identities. Contact 1 is the heavy one (every 5000th
  conversation is theirs: 200 conversations, 2,000 messages).
- 1,000,000 conversations over three years of activity in one SMS inbox, 10 messages each
  (odd seq from the customer, even seq the agent's answer): 10,000,000 messages.
  5 % open, 2 % pending, 1 % snoozed, the rest resolved; of the ones not resolved, 30 % are
  unassigned; the open ones without an answer wait (waiting_since). Every conversation is in
  the one team; 20 agents, each a member of the inbox and of the team.
- Read markers: each agent has read their own conversations (resolved: all of it; the rest: up
  to seq 5), so unread counts are mixed.
- 1,000,000 events in the log (the newest ones, as pruning keeps).

Prints one JSON line: {"database_url": …, "agents": [{"id", "username", "token"}, …], "team_id",
"inbox_id", "heavy_contact", "typical_contact", "counts": {…}, "seconds": {…}}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgres://postgres@localhost:5432"
DEFAULT_DB = "supportdesk_reads"
AGENTS = 20

FIRST = [
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Amir", "Bea", "Carlos", "Dana",
]  # fmt: skip
LAST = [
    "Nakamura", "Okafor", "Schmidt", "Rossi", "Dubois", "Kowalski", "Haddad", "Larsen", "Novak",
    "Silva", "Moreau", "Fischer", "Ivanova", "Jensen", "Kaur", "Lopez", "Murphy", "Nguyen",
    "Olsen", "Petrov", "Quispe", "Reyes", "Sato", "Tanaka", "Usman", "Varga", "Weber", "Yilmaz",
    "Zhang", "Abbott", "Baker", "Costa", "Diaz", "Evans", "Ferreira", "Garcia", "Hansen", "Ito",
    "Jovanovic", "Kim", "Lindqvist", "Mendes", "Nilsen", "Ortiz", "Park", "Quinn", "Romero",
    "Santos", "Torres", "Ueda",
]  # fmt: skip


def sql_array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]"


VOCABULARY = [
    "order", "delivery", "refund", "invoice", "password", "account", "payment", "shipping", "broken",
    "cancel", "subscription", "login", "error", "package", "address", "late", "tracking", "discount",
    "warranty", "return", "commande", "livraison", "remboursement", "facture", "compte", "paiement",
    "bestellung", "lieferung", "rechnung", "rückerstattung", "konto", "zahlung", "pedido", "envío",
    "reembolso", "factura", "cuenta", "pago", "café", "über", "größe", "naïve", "doppelt", "damaged",
    "charger", "battery", "screen", "keyboard", "printer", "router", "firmware", "upgrade", "downgrade",
    "coupon", "voucher", "gift", "exchange", "colour", "size", "missing", "duplicate", "receipt",
    "appointment", "reschedule", "urgent", "complaint", "manager", "callback", "outage", "latency",
    "timeout", "crash", "bluetooth", "wifi", "sync", "backup", "restore", "export", "import", "api",
    "webhook", "integration", "calendar", "reminder", "notification", "unsubscribe", "newsletter",
    "privacy", "gdpr", "deletion", "invoice-copy", "vat", "customs", "courier", "pickup", "locker",
    "signature", "fragile", "insurance", "escalate", "supervisor", "zebra", "quokka", "axolotl",
]  # fmt: skip


def variety_body(m: str) -> str:
    """A message body from VOCABULARY, 6 words picked with a cubic skew (word 1 is in about a fifth
    of the bodies, the last ones in a few per thousand), and the order number of its conversation."""
    n = len(VOCABULARY)
    words = " || ' ' || ".join(
        f"(%(vocabulary)s)[1 + floor({n} * power((({m})::bigint * {k} % 10007) / 10007.0, 3))::int]"
        for k in (7919, 104729, 1299709, 15485863, 32452843, 49979687)
    )
    return f"{words} || ' order #' || (100000 + ({m} - 1) / 10)"


def seed_sql(
    *, contacts: int, conversations: int, per: int, events: int, heavy_every: int, variety: bool = False
) -> list[tuple[str, str]]:
    """(name, statement) in order. %(inbox)s, %(team)s, %(agent0)s (the first agent's id - 1) are
    filled in by the caller (with `variety`, also %(inbox2)s, %(inbox3)s, %(team2)s, %(team3)s)."""
    first, last = sql_array(FIRST), sql_array(LAST)
    if variety:
        inbox_expr = "(ARRAY[%(inbox)s, %(inbox2)s, %(inbox3)s])[1 + i % 3]"
        team_expr = "(ARRAY[%(team)s, %(team2)s, %(team3)s])[1 + (i / 3) % 3]"
        identity_expr = "CASE WHEN i % 3 = 1 THEN 2 * c ELSE 2 * c - 1 END"
        channel_expr = "CASE WHEN i % 3 = 1 THEN 'email' ELSE 'phone' END"
        created_expr = "t - (10 * (30 + (i::bigint * 7919) % 1050)) * interval '1 second'"
        at_expr = "cv.created_at + q * (30 + (cv.id::bigint * 7919) % 1050) * interval '1 second'"
        kind_expr = "CASE WHEN q = 6 AND cv.id % 10 = 0 THEN 'note' ELSE 'message' END"
        body_expr = variety_body("m")
        status_expr = "CASE WHEN q % 2 = 1 THEN 'received' WHEN q = 6 AND cv.id % 10 = 0 THEN '' ELSE 'delivered' END"
        msg_channel = "cv.last_channel"
    else:
        inbox_expr, team_expr, identity_expr, channel_expr = "%(inbox)s", "%(team)s", "2 * c - 1", "'phone'"
        created_expr = "t - interval '3 hours'"
        at_expr = f"cv.last_activity_at - ({per} - q) * interval '2 minutes'"
        kind_expr = "'message'"
        body_expr = "CASE WHEN q % 2 = 1 THEN 'Hello, my order ' ELSE 'Thanks, we are on it: ' END || md5(m::text)"
        status_expr = "CASE WHEN q % 2 = 1 THEN 'received' ELSE 'delivered' END"
        msg_channel = "'phone'"
    nf, nl = len(FIRST), len(LAST)
    span = "interval '3 years'"
    return [
        (
            "contacts",
            f"""INSERT INTO contacts_contact (id, name, notes, merged_into_id, created_at)
            SELECT i, ({first})[1 + i % {nf}] || ' ' || ({last})[1 + (i / {nf}) % {nl}], '', NULL,
                   now() - {span} + (i * {span}) / {contacts}
            FROM generate_series(1, {contacts}) AS i""",
        ),
        (
            "identities",
            # 2 per contact: phone id 2i-1, email id 2i. Phone: +1 (415|628|510) + 7 digits of i.
            f"""INSERT INTO contacts_identity (id, contact_id, kind, address, display, verified, opted_out,
                   opted_out_at, created_at)
            SELECT 2 * i - 1, i, 'phone',
                   '+1' || (ARRAY['415','628','510'])[1 + i % 3] || lpad((i::bigint * 7919 % 10000000)::text, 7, '0'),
                   '', true, false, NULL::timestamptz, now() - {span}
            FROM generate_series(1, {contacts}) AS i
            UNION ALL
            SELECT 2 * i, i, 'email',
                   lower(({first})[1 + i % {nf}] || '.' || ({last})[1 + (i / {nf}) % {nl}]) || '.' || i
                       || '@example.com',
                   '', true, false, NULL::timestamptz, now() - {span}
            FROM generate_series(1, {contacts}) AS i""",
        ),
        (
            "conversations",
            # c.i: status by i % 100; the heavy contact every `heavy_every`-th conversation.
            f"""INSERT INTO conversations_conversation (id, inbox_id, contact_id, status, assignee_id, team_id,
                   priority, last_identity_id, last_channel, last_seq, inbound_count, created_at, last_activity_at,
                   waiting_since, snoozed_until, last_message, noise, triage_reason)
            SELECT i, {inbox_expr}, c, s, a, {team_expr}, (i % 5) * (i % 7 = 0)::int, {identity_expr}, {channel_expr},
                   {per}, {(per + 1) // 2}, {created_expr}, t,
                   CASE WHEN s = 'open' AND i % 3 <> 0 THEN t - interval '1 hour' END,
                   CASE WHEN s = 'snoozed' THEN now() + interval '1 day' END,
                   jsonb_build_object('body', 'Answer ' || md5(i::text), 'direction',
                       CASE WHEN s = 'open' AND i % 3 <> 0 THEN 'in' ELSE 'out' END,
                       'kind', 'message', 'channel', {channel_expr}, 'created_at', to_char(t AT TIME ZONE 'UTC',
                       'YYYY-MM-DD"T"HH24:MI:SS.US+00:00')), false, ''
            FROM (
                SELECT i,
                       CASE WHEN i % {heavy_every} = 0 THEN 1 ELSE 2 + (i::bigint * 104729) % ({contacts} - 1) END AS c,
                       CASE WHEN i % 100 < 5 THEN 'open' WHEN i % 100 < 7 THEN 'pending'
                            WHEN i % 100 < 8 THEN 'snoozed' ELSE 'resolved' END AS s,
                       CASE WHEN i % 100 < 8 AND i % 10 < 3 THEN NULL ELSE %(agent0)s + 1 + i % {AGENTS} END AS a,
                       now() - {span} + ({span} * i) / {conversations} AS t
                FROM generate_series(1, {conversations}) AS i
            ) AS x""",
        ),
        (
            "messages",
            # Message m: conversation (m-1)/per+1, seq (m-1)%per+1; odd seq from the customer.
            f"""INSERT INTO conversations_message (id, conversation_id, seq, inbox_id, direction, kind, channel,
                   identity_id, sender_id, body, provider_id, client_id, status, error_code, error_message,
                   meta, created_at, updated_at)
            SELECT m, cv.id, q, cv.inbox_id, CASE WHEN q % 2 = 1 THEN 'in' ELSE 'out' END, {kind_expr}, {msg_channel},
                   cv.last_identity_id, CASE WHEN q % 2 = 0 THEN cv.assignee_id END,
                   {body_expr},
                   NULL, NULL, {status_expr}, '', '', '{{}}',
                   {at_expr}, {at_expr}
            FROM (SELECT m, (m - 1) / {per} + 1 AS cid, (m - 1) % {per} + 1 AS q
                  FROM generate_series(1, {conversations * per}) AS m) AS g
            JOIN conversations_conversation cv ON cv.id = g.cid""",
        ),
        (
            "read markers",
            """INSERT INTO conversations_readmarker (agent_id, conversation_id, last_read_seq, read_inbound_count,
                   updated_at)
            SELECT assignee_id, id, CASE WHEN status = 'resolved' THEN last_seq ELSE 5 END,
                   CASE WHEN status = 'resolved' THEN inbound_count ELSE 3 END, last_activity_at
            FROM conversations_conversation WHERE assignee_id IS NOT NULL""",
        ),
        (
            "conversation labels",
            """INSERT INTO conversations_conversation_labels (conversation_id, label_id)
            SELECT c.id, l.id FROM conversations_conversation c
            JOIN conversations_label l ON l.name = CASE WHEN c.id % 10 = 0 THEN 'vip' ELSE 'billing' END
            WHERE c.id % 5 = 0""",
        ),
        (
            "events",
            f"""INSERT INTO bus_event (id, type, conversation_id, inbox_id, agent_id, data, created_at)
            SELECT e, 'message.created', {conversations} - (e % 1000), %(inbox)s, NULL,
                   jsonb_build_object('id', e, 'body', 'Hello ' || md5(e::text)),
                   now() - interval '7 days' + (interval '7 days' * e) / {events}
            FROM generate_series(1, {events}) AS e""",
        ),
        # Service levels (apps.sla): one policy, a clock per conversation as the sweep keeps them
        # (open ones due, pending paused, resolved stopped), and the SLA and survey positions
        # caught up with the log (a desk whose sweeps have run).
        (
            "sla policy",
            """INSERT INTO sla_slapolicy (id, name, inbox_id, team_id, priority, first_response_minutes,
                   resolution_minutes, business_hours, active, created_at)
            VALUES (1, 'Bench: 1 h / 1 day', NULL, NULL, NULL, 60, 1440, false, true, now())""",
        ),
        (
            "sla clocks",
            """INSERT INTO sla_conversationsla (conversation_id, policy_id, cycle, started_at, paused_at,
                   paused_seconds, first_response_due_at, first_responded_at, resolution_due_at, resolved_at,
                   next_due_at, next_target, first_response_breached, resolution_breached, check_at)
            SELECT id, 1, 1, created_at, CASE WHEN status = 'pending' THEN last_activity_at END, 0,
                   created_at + interval '1 hour', CASE WHEN waiting_since IS NULL THEN created_at + interval '2 minutes' END,
                   created_at + interval '1 day', CASE WHEN status = 'resolved' THEN last_activity_at END,
                   CASE WHEN status IN ('open', 'snoozed') THEN
                       CASE WHEN waiting_since IS NOT NULL THEN created_at + interval '1 hour'
                            ELSE created_at + interval '1 day' END END,
                   CASE WHEN status IN ('open', 'snoozed') THEN
                       CASE WHEN waiting_since IS NOT NULL THEN 'first_response' ELSE 'resolution' END
                   ELSE '' END,
                   false, false, NULL
            FROM conversations_conversation""",
        ),
        (
            "sla and survey positions",
            f"""INSERT INTO sla_slaposition (id, event_id) VALUES (1, {events});
            INSERT INTO csat_csatposition (id, event_id) VALUES (1, {events})""",
        ),
    ]


SEQUENCE_TABLES = [
    "contacts_contact",
    "contacts_identity",
    "conversations_conversation",
    "conversations_message",
    "conversations_readmarker",
    "bus_event",
]


RESULTS = Path(__file__).resolve().parent / "results"


def seed_info(database: str) -> Path:
    """Where the seed's answer is kept, for bench/reads.py."""
    return RESULTS / f"{database}-seed.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL, without a database")
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1M conversations (0.01 for a quick run)")
    parser.add_argument("--drop", action="store_true", help="drop the database and exit")
    parser.add_argument("--variety", action="store_true", help="inboxes, teams, words, notes (issue 13)")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        seed_info(args.database).unlink(missing_ok=True)
        if args.drop:
            return
        admin.execute(f'CREATE DATABASE "{args.database}"')
    url = f"{args.pg}/{args.database}"
    for name in list(os.environ):
        if name.startswith(("DATABASE_", "DJANGO_")):
            del os.environ[name]
    os.environ.update(
        DATABASE_URL=url, DATABASE_POOL="0", DJANGO_SETTINGS_MODULE="supportdesk.settings", DJANGO_DEBUG="0"
    )
    os.environ.setdefault("SECRET_KEY", "reads-bench-not-secret-" + "x" * 40)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import Inbox, Team
    from apps.accounts.services import agent_create
    from apps.conversations.models import Label

    seconds: dict[str, float] = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    seconds["migrate"] = round(time.monotonic() - started, 1)

    team = Team.objects.create(name="Support")
    inbox = Inbox.objects.create(name="SMS", channel=Inbox.Channel.SMS, address="+15005550100", team=team)
    inboxes, teams = [inbox], [team]
    if args.variety:
        teams += [Team.objects.create(name="Billing"), Team.objects.create(name="Sales")]
        inboxes += [
            Inbox.objects.create(name="Mail", channel=Inbox.Channel.EMAIL, address="help@example.com", team=teams[1]),
            Inbox.objects.create(name="Web chat", channel=Inbox.Channel.WIDGET, address="", team=teams[2]),
        ]
    Label.objects.create(name="vip")
    Label.objects.create(name="billing")
    agents = []
    for index in range(AGENTS):
        agent, token = agent_create(
            username=f"agent{index:02d}",
            password=f"reads-pass-{index}",
            display_name=f"Agent {index:02d}",
            inboxes=inboxes,
            teams=teams,
            max_conversations=10_000,
        )
        agents.append({"id": agent.pk, "username": agent.username, "token": token})

    contacts = max(100, int(600_000 * args.scale))
    conversations = max(1000, int(1_000_000 * args.scale))
    events = max(1000, int(1_000_000 * args.scale))
    heavy_every = 5000 if conversations >= 200_000 else max(10, conversations // 200)
    params = {"inbox": inbox.pk, "team": team.pk, "agent0": agents[0]["id"] - 1}
    if args.variety:
        params.update(inbox2=inboxes[1].pk, inbox3=inboxes[2].pk, team2=teams[1].pk, team3=teams[2].pk)
    statements = seed_sql(
        contacts=contacts,
        conversations=conversations,
        per=10,
        events=events,
        heavy_every=heavy_every,
        variety=args.variety,
    )
    # The words of contacts' names (contacts migration 0007) are written once for all below, not
    # by the trigger for each of the 600,000 rows.
    name_words = importlib.import_module("apps.contacts.migrations.0007_name_words")
    statements.insert(
        [name for name, _ in statements].index("contacts") + 1,
        ("contact name words", name_words.COPY_CHUNK.replace("%s", "0", 1).replace("%s", str(contacts + 1), 1)),
    )
    statements.insert(
        [name for name, _ in statements].index("contact name words") + 1,
        ("name vocabulary", name_words.VOCABULARY),
    )
    # The unread tally (conversations migration 0012): its sums written once after the
    # conversations and read markers, not a row by the trigger for each of them.
    unread_tally = importlib.import_module("apps.conversations.migrations.0012_unread_tally")
    statements.insert(
        [name for name, _ in statements].index("read markers") + 1,
        ("unread tally", unread_tally.COPY),
    )
    triggered = ("contacts_contact", "conversations_conversation", "conversations_readmarker")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for table in triggered:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for name, sql in statements:
            step = time.monotonic()
            for key, value in params.items():  # ids of rows this run made: no parameters (% is modulo)
                sql = sql.replace(f"%({key})s", str(int(value)))
            sql = sql.replace("%(vocabulary)s", sql_array(VOCABULARY))
            cursor.execute(sql)
            seconds[name] = round(time.monotonic() - step, 1)
            print(f"# {name}: {cursor.rowcount} rows in {seconds[name]} s", file=sys.stderr, flush=True)
        for table in triggered:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        for table in SEQUENCE_TABLES:  # the next rows the app writes get fresh ids
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
    step = time.monotonic()
    connection.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    seconds["vacuum analyze"] = round(time.monotonic() - step, 1)
    seconds["total"] = round(time.monotonic() - started, 1)
    info = json.dumps(
        {
            "database_url": url,
            "agents": agents,
            "team_id": team.pk,
            "inbox_id": inbox.pk,
            "inbox_ids": [i.pk for i in inboxes],
            "team_ids": [t.pk for t in teams],
            "heavy_contact": 1,
            "typical_contact": 2 + (12345 * 104729) % (contacts - 1),
            "counts": {"contacts": contacts, "conversations": conversations, "messages": conversations * 10},
            "seconds": seconds,
        }
    )
    # What bench/reads.py needs (agents' tokens, ids) beside the database: it benches this seed
    # instead of seeding again.
    RESULTS.mkdir(parents=True, exist_ok=True)
    seed_info(args.database).write_text(info)
    print(info)


if __name__ == "__main__":
    main()
