"""Unread totals from kept sums (issue 14): UnreadTally, kept by triggers on conversations and
read markers.

`/api/v1/unread` added up the kept counts of every open conversation an agent could answer:
30,000 index entries per request at 1M conversations (~38 ms of PostgreSQL, and 335 ms p95 with
8 clients). Now it reads a few sums: the conversations' by (inbox, assignee), less the agent's
own read part by the same keys (apps.api.selectors.unread_totals).

PostgreSQL only. AFTER triggers add one row with the difference a change makes (a new message:
+1, and the caught-up count of each agent who had read it all -1; a conversation resolved,
reassigned, moved or marked noise: its parts out of one key and into another; a marker moved:
the agent's read part), so concurrent writers each insert their own row and never wait on a
shared one; the bus sweep folds the rows (apps.conversations.unread). The existing sums are
written in this migration's transaction after the triggers are in place: creating a trigger
locks its table against writes until the commit, so no change is counted twice or missed. That
lock lasts as long as the two aggregates over the conversations not resolved and their markers:
0.9 s at 1M conversations and 1M markers (bench/reads_seed.py runs the same COPY). SQLite: the
table stays empty and the totals are counted from the conversations.
"""

from django.db import migrations, models

ADD = """
CREATE OR REPLACE FUNCTION conversations_unread_tally_add(i bigint, a bigint, g bigint, m bigint, c bigint, n bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF m <> 0 OR c <> 0 OR n <> 0 THEN
        INSERT INTO conversations_unreadtally (inbox_id, assignee_id, agent_id, messages, conversations, noise)
        VALUES (i, a, g, m, c, n);
    END IF;
END $$;
"""

# A conversation's part: nothing once resolved; else its count and whether it has one, or (noise)
# one in the noise count. Each reader's part: what their marker covers of that count, and whether
# it covers all of it. A change writes the new parts less the old ones: in one row per reader
# when the key (inbox, assignee) stays, else the old parts out of the old key and the new into
# the new one.
CONVERSATIONS = """
CREATE OR REPLACE FUNCTION conversations_unread_tally() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    same boolean := false;
    o_read boolean := false;
    n_read boolean := false;
    om bigint := 0; oc bigint := 0; onz bigint := 0;
    nm bigint := 0; nc bigint := 0; nnz bigint := 0;
    k record;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status <> 'resolved' THEN
        IF OLD.noise THEN onz := 1;
        ELSE om := OLD.inbound_count; oc := (OLD.inbound_count > 0)::int; o_read := true;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status <> 'resolved' THEN
        IF NEW.noise THEN nnz := 1;
        ELSE nm := NEW.inbound_count; nc := (NEW.inbound_count > 0)::int; n_read := true;
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        same := OLD.inbox_id = NEW.inbox_id AND OLD.assignee_id IS NOT DISTINCT FROM NEW.assignee_id;
    END IF;
    IF same THEN
        PERFORM conversations_unread_tally_add(NEW.inbox_id, NEW.assignee_id, NULL, nm - om, nc - oc, nnz - onz);
    ELSE
        IF TG_OP <> 'INSERT' THEN
            PERFORM conversations_unread_tally_add(OLD.inbox_id, OLD.assignee_id, NULL, -om, -oc, -onz);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM conversations_unread_tally_add(NEW.inbox_id, NEW.assignee_id, NULL, nm, nc, nnz);
        END IF;
    END IF;
    -- A new conversation has no readers yet; a resolved or noise one counts for none.
    IF TG_OP = 'INSERT' OR NOT (o_read OR n_read) THEN
        RETURN NULL;
    END IF;
    FOR k IN SELECT agent_id, read_inbound_count AS r FROM conversations_readmarker
             WHERE conversation_id = OLD.id LOOP
        om := 0; oc := 0; nm := 0; nc := 0;
        IF o_read THEN
            om := least(k.r, OLD.inbound_count);
            oc := (OLD.inbound_count > 0 AND k.r >= OLD.inbound_count)::int;
        END IF;
        IF n_read THEN
            nm := least(k.r, NEW.inbound_count);
            nc := (NEW.inbound_count > 0 AND k.r >= NEW.inbound_count)::int;
        END IF;
        IF same THEN
            PERFORM conversations_unread_tally_add(NEW.inbox_id, NEW.assignee_id, k.agent_id, nm - om, nc - oc, 0);
        ELSE
            PERFORM conversations_unread_tally_add(OLD.inbox_id, OLD.assignee_id, k.agent_id, -om, -oc, 0);
            IF TG_OP <> 'DELETE' THEN
                PERFORM conversations_unread_tally_add(NEW.inbox_id, NEW.assignee_id, k.agent_id, nm, nc, 0);
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS conversations_unread_tally ON conversations_conversation;
CREATE TRIGGER conversations_unread_tally
    AFTER INSERT OR DELETE ON conversations_conversation
    FOR EACH ROW EXECUTE FUNCTION conversations_unread_tally();
-- Most updates (a reply, the last message's preview, a clock) leave these columns alone.
DROP TRIGGER IF EXISTS conversations_unread_tally_changed ON conversations_conversation;
CREATE TRIGGER conversations_unread_tally_changed
    AFTER UPDATE OF inbound_count, status, noise, assignee_id, inbox_id ON conversations_conversation
    FOR EACH ROW
    WHEN (OLD.inbound_count IS DISTINCT FROM NEW.inbound_count OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.noise IS DISTINCT FROM NEW.noise OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id
          OR OLD.inbox_id IS DISTINCT FROM NEW.inbox_id)
    EXECUTE FUNCTION conversations_unread_tally();
"""

# A marker's part, by the conversation as it is now, locked FOR SHARE until the commit: the
# conversation's trigger reads the markers, and of a marker and its conversation changing at
# once, the second to lock must see the first's change (so the parts written add up to the end
# state whatever the order).
MARKERS = """
CREATE OR REPLACE FUNCTION conversations_unread_tally_read() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT inbox_id, assignee_id, status, noise, inbound_count INTO c
        FROM conversations_conversation WHERE id = OLD.conversation_id FOR SHARE;
        IF FOUND AND c.status <> 'resolved' AND NOT c.noise THEN
            PERFORM conversations_unread_tally_add(c.inbox_id, c.assignee_id, OLD.agent_id,
                -least(OLD.read_inbound_count, c.inbound_count),
                -(c.inbound_count > 0 AND OLD.read_inbound_count >= c.inbound_count)::int, 0);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT inbox_id, assignee_id, status, noise, inbound_count INTO c
        FROM conversations_conversation WHERE id = NEW.conversation_id FOR SHARE;
        IF FOUND AND c.status <> 'resolved' AND NOT c.noise THEN
            PERFORM conversations_unread_tally_add(c.inbox_id, c.assignee_id, NEW.agent_id,
                least(NEW.read_inbound_count, c.inbound_count),
                (c.inbound_count > 0 AND NEW.read_inbound_count >= c.inbound_count)::int, 0);
        END IF;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS conversations_unread_tally_read ON conversations_readmarker;
CREATE TRIGGER conversations_unread_tally_read
    AFTER INSERT OR DELETE ON conversations_readmarker
    FOR EACH ROW EXECUTE FUNCTION conversations_unread_tally_read();
DROP TRIGGER IF EXISTS conversations_unread_tally_read_changed ON conversations_readmarker;
CREATE TRIGGER conversations_unread_tally_read_changed
    AFTER UPDATE OF read_inbound_count, agent_id, conversation_id ON conversations_readmarker
    FOR EACH ROW
    WHEN (OLD.read_inbound_count IS DISTINCT FROM NEW.read_inbound_count OR OLD.agent_id IS DISTINCT FROM NEW.agent_id
          OR OLD.conversation_id IS DISTINCT FROM NEW.conversation_id)
    EXECUTE FUNCTION conversations_unread_tally_read();
"""

SYNC = ADD + CONVERSATIONS + MARKERS

UNSYNC = """
DROP TRIGGER IF EXISTS conversations_unread_tally ON conversations_conversation;
DROP TRIGGER IF EXISTS conversations_unread_tally_changed ON conversations_conversation;
DROP TRIGGER IF EXISTS conversations_unread_tally_read ON conversations_readmarker;
DROP TRIGGER IF EXISTS conversations_unread_tally_read_changed ON conversations_readmarker;
DROP FUNCTION IF EXISTS conversations_unread_tally();
DROP FUNCTION IF EXISTS conversations_unread_tally_read();
DROP FUNCTION IF EXISTS conversations_unread_tally_add(bigint, bigint, bigint, bigint, bigint, bigint);
"""

# The sums as they are: the same parts as the triggers', by key.
COPY = """
INSERT INTO conversations_unreadtally (inbox_id, assignee_id, agent_id, messages, conversations, noise)
SELECT inbox_id, assignee_id, NULL,
       coalesce(sum(inbound_count) FILTER (WHERE NOT noise), 0),
       count(*) FILTER (WHERE NOT noise AND inbound_count > 0),
       count(*) FILTER (WHERE noise)
FROM conversations_conversation
WHERE status <> 'resolved'
GROUP BY inbox_id, assignee_id
HAVING sum(inbound_count) FILTER (WHERE NOT noise) > 0 OR count(*) FILTER (WHERE noise) > 0;
INSERT INTO conversations_unreadtally (inbox_id, assignee_id, agent_id, messages, conversations, noise)
SELECT c.inbox_id, c.assignee_id, m.agent_id,
       sum(least(m.read_inbound_count, c.inbound_count)),
       count(*) FILTER (WHERE c.inbound_count > 0 AND m.read_inbound_count >= c.inbound_count),
       0
FROM conversations_readmarker m
JOIN conversations_conversation c ON c.id = m.conversation_id
WHERE c.status <> 'resolved' AND NOT c.noise
GROUP BY c.inbox_id, c.assignee_id, m.agent_id
HAVING sum(least(m.read_inbound_count, c.inbound_count)) > 0
"""


def sync_and_copy(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SYNC)  # from here to the commit, writes to conversations and markers wait
        cursor.execute(COPY)


def unsync(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(UNSYNC)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_conversation_statistics"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnreadTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("inbox_id", models.BigIntegerField()),
                ("assignee_id", models.BigIntegerField(null=True)),
                (
                    "agent_id",
                    models.BigIntegerField(
                        help_text="None: the conversations' sums; else what this agent read.", null=True
                    ),
                ),
                ("messages", models.BigIntegerField(default=0)),
                ("conversations", models.BigIntegerField(default=0)),
                ("noise", models.BigIntegerField(default=0)),
            ],
            options={
                "indexes": [models.Index(fields=["inbox_id", "agent_id", "assignee_id"], name="unread_tally_key_idx")],
            },
        ),
        migrations.RunPython(sync_and_copy, unsync),
    ]
