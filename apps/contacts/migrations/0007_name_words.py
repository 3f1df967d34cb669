"""Contact search by a part of a name (issue 14): the words of contacts' names, kept by a trigger.

`contacts?q=len` used to read every contact whose name contains LEN (40,000 at 600,000 contacts)
to sort them by name. With ContactNameWord (word, name, contact) and the vocabulary NameWord
(trigram-indexed), it reads the few words that contain LEN and, for each, the first contacts by
name: a few hundred index entries (apps.api.selectors._names_by_word).

PostgreSQL only: an AFTER trigger on contacts_contact keeps both tables (insert, rename, merge,
undo, delete); the existing contacts are copied in chunks of BACKFILL_CHUNK after the trigger is
in place, each chunk locking its contacts FOR SHARE (a contact renamed meanwhile is copied as it
now is, and its trigger rewrites it after), so writes to contacts go on while it runs: nothing
waits longer than one chunk (about a second at 600,000 contacts on a 2-core machine; the whole
copy took 20 s there). The migration is not atomic for that reason. SQLite: the tables stay
empty.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models

from apps.core.migration_ops import AddPostgresIndexConcurrently

BACKFILL_CHUNK = 20_000

# Words are split on ASCII whitespace: a query without any lies inside one word of every name
# that contains it (apps.api.selectors.NAME_WORD_SEPARATORS is the same set).
WORDS = r"regexp_split_to_table(upper({name}::text), '[ \t\n\r\f\v]+')"

# One word at a time: as set statements, PostgreSQL took the split for a thousand words and
# hashed the whole vocabulary for each contact (0.8 ms a contact; now 0.1 ms when its words are
# known, 0.4 ms when they are new).
SYNC = f"""
CREATE OR REPLACE FUNCTION contacts_name_words_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w_ text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM contacts_contactnameword WHERE contact_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.merged_into_id IS NULL THEN
        FOR w_ IN SELECT DISTINCT w FROM {WORDS.format(name="NEW.name")} AS w WHERE w <> '' LOOP
            INSERT INTO contacts_contactnameword (contact_id, word, name)
            VALUES (NEW.id, w_, NEW.name) ON CONFLICT DO NOTHING;
            -- No unique constraint here, so no waiting on another transaction's new word: two at
            -- once may both add it (harmless: the search reads distinct words).
            IF NOT EXISTS (SELECT 1 FROM contacts_nameword v WHERE v.word = w_) THEN
                INSERT INTO contacts_nameword (word) VALUES (w_);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS contacts_name_words ON contacts_contact;
CREATE TRIGGER contacts_name_words
    AFTER INSERT OR DELETE ON contacts_contact
    FOR EACH ROW EXECUTE FUNCTION contacts_name_words_sync();
-- A save() that writes the same name (every field) leaves the words alone.
DROP TRIGGER IF EXISTS contacts_name_words_changed ON contacts_contact;
CREATE TRIGGER contacts_name_words_changed
    AFTER UPDATE OF name, merged_into_id ON contacts_contact
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.merged_into_id IS DISTINCT FROM NEW.merged_into_id)
    EXECUTE FUNCTION contacts_name_words_sync();
"""

UNSYNC = """
DROP TRIGGER IF EXISTS contacts_name_words ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_name_words_changed ON contacts_contact;
DROP FUNCTION IF EXISTS contacts_name_words_sync();
"""

COPY_CHUNK = f"""
INSERT INTO contacts_contactnameword (contact_id, word, name)
SELECT DISTINCT c.id, w, c.name
FROM (SELECT id, name FROM contacts_contact
      WHERE id >= %s AND id < %s AND merged_into_id IS NULL FOR SHARE) AS c,
     {WORDS.format(name="c.name")} AS w
WHERE w <> ''
ON CONFLICT DO NOTHING
"""

VOCABULARY = """
INSERT INTO contacts_nameword (word)
SELECT DISTINCT n.word FROM contacts_contactnameword n
WHERE NOT EXISTS (SELECT 1 FROM contacts_nameword v WHERE v.word = n.word)
"""


def sync_and_copy(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SYNC)
        cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM contacts_contact")
        low, high = cursor.fetchone()
        for start in range(low, high + 1, BACKFILL_CHUNK):
            cursor.execute(COPY_CHUNK, [start, start + BACKFILL_CHUNK])
        cursor.execute(VOCABULARY)
        cursor.execute("ANALYZE contacts_contactnameword")
        cursor.execute("ANALYZE contacts_nameword")


def unsync(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(UNSYNC)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0006_reports_search_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactNameWord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("contact_id", models.BigIntegerField()),
                ("word", models.CharField(max_length=200)),
                ("name", models.CharField(max_length=200)),
            ],
            options={
                "indexes": [models.Index(fields=["word", "name", "contact_id"], name="contactnameword_walk_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("contact_id", "word"), name="contactnameword_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="NameWord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("word", models.CharField(db_index=True, max_length=200)),
            ],
        ),
        AddPostgresIndexConcurrently(
            model_name="nameword",
            index=GinIndex(fields=["word"], opclasses=["gin_trgm_ops"], name="nameword_trgm_idx"),
        ),
        migrations.RunPython(sync_and_copy, unsync),
    ]
